"""Check layer, the third step of the flow: assembled systems -> findings.

``rules`` (the registry of every rule id), ``validate`` (the whole-system rules),
``inmate`` (does an image fit its cell), then ``waivers``, ``baseline`` and ``triage``
(which findings of a run count). Board checks live with the board readers in ``board/``.
"""

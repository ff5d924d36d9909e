"""The reverse path: decoded blobs -> partcfg YAML documents (``partcfg import``)."""

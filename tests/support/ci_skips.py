"""pytest plugin (loaded by tests/conftest.py): in CI, a skipped test is a failure.

A test that skips because a tool is missing (gcc, objcopy, chromium, an optional
package) proves nothing, and a CI run that skips it silently claims more than it
checked. When the ``CI`` environment variable is set (CI systems set ``CI=true``;
``.ci/run`` sets it), every skip turns into a failure naming its reason, except the
tests on :data:`ALLOWED_IN_CI`, each with why CI may skip it.
"""

from __future__ import annotations

import os

import pytest

# test function name (any parametrization) -> why CI may skip it
ALLOWED_IN_CI = {
    "test_sources_compile_against_jailhouse_headers":
        "needs a Jailhouse source tree (JAILHOUSE_SRC), which CI does not check out",
}


def ci_is_set() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and ci_is_set()) or hasattr(report, "wasxfail"):
        return
    name = getattr(item, "originalname", None) or item.name
    if name in ALLOWED_IN_CI:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI, which must run every test: {reason}\n"
                       f"(install what the test needs, or add it to ALLOWED_IN_CI in "
                       f"tests/support/ci_skips.py with the reason CI may skip it)")

"""pytest plugin (loaded by tests/conftest.py): every registered rule must be triggered.

Records the rule id of every diagnostic the code creates while the tests run (in the
test process; ``partcfg run``'s refusals and the CLI run in-process too). When the whole
suite ran (no file or test selection, no -k/-m, nothing deselected, not stopped early),
a registered rule that no test triggered fails the session, listed by id. The registry is
read at the end of the run, so rules added later are held to the same rule.
"""

from __future__ import annotations

import pytest

# rules whose only triggering test runs partcfg in a child process (fault injection),
# with the test that triggers them
TRIGGERED_IN_A_CHILD = {
    "RUN-CELL-START": "test_runtime.py::test_a_cell_that_cannot_start_or_map_is_refused",
    "RUN-MAP-FAILED": "test_runtime.py::test_a_cell_that_cannot_start_or_map_is_refused",
}

SEEN: set[str] = set()
_STATE = {"deselected": False, "ran": 0}


def pytest_configure(config):
    from partcfg.diagnostics import Diagnostic
    if getattr(Diagnostic.__init__, "_records_rules", False):
        return
    original = Diagnostic.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        SEEN.add(self.rule)
    recording_init._records_rules = True
    Diagnostic.__init__ = recording_init


def pytest_deselected(items):
    _STATE["deselected"] = True


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _STATE["ran"] += 1


def whole_suite_ran(session) -> bool:
    config = session.config
    return (not config.args or [a.rstrip("/") for a in config.args] == ["tests"]
            or config.args == [str(config.rootpath / "tests")]) \
        and not config.option.keyword and not config.option.markexpr \
        and not _STATE["deselected"] and not session.shouldstop and not session.shouldfail \
        and _STATE["ran"] == session.testscollected and session.testscollected > 0


def untriggered_rules() -> list[str]:
    from partcfg.check.rules import RULES
    return sorted(set(RULES) - SEEN - set(TRIGGERED_IN_A_CHILD))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and whole_suite_ran(session) and untriggered_rules():
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = terminalreporter._session if hasattr(terminalreporter, "_session") else None
    if session is not None and whole_suite_ran(session):
        missing = untriggered_rules()
        if missing:
            terminalreporter.section("registered rules no test triggered")
            for rule in missing:
                terminalreporter.line(rule)

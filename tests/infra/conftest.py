"""Prints the security scan's summary (checkov counts and every suppression with its reason) at
the end of the session, so `make test` and `make infra-check` show it without -s."""

from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    module = sys.modules.get("tests.infra.test_infra")  # set only when the infra tests were collected
    if module is not None and module.CHECKOV_SUMMARY:
        terminalreporter.section("infrastructure security scan")
        for line in module.CHECKOV_SUMMARY:
            terminalreporter.write_line(line)

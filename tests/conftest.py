"""Suite-wide fixtures: the package's own pytest plugin (throwaway servers, ready backends), and
pytest's ``pytester`` for tests of that plugin."""

from _pytest.terminal import TerminalReporter

pytest_plugins = ["mindtrace.database.testing.plugin", "pytester"]

FIGURE_PREFIX = "figure:"
"""Marks the ``record_property`` entries that are measured figures (see ``figure`` in
``tests/reliability/conftest.py``). The summary hook lives here, in the root conftest, because
under xdist only the controller prints the summary and it never loads sub-directory conftests."""


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    # Reports reach the controller under xdist too, with their user_properties.
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            found = [
                f"{name[len(FIGURE_PREFIX) :]}={value}"
                for name, value in getattr(report, "user_properties", ())
                if isinstance(name, str) and name.startswith(FIGURE_PREFIX)
            ]
            if found:
                outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
                lines.append(f"{report.nodeid} [{outcome}]: {', '.join(found)}")
    if lines:
        terminalreporter.section("reliability figures")
        for line in sorted(lines):
            terminalreporter.write_line(line)

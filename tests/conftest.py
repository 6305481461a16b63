"""Suite-wide fixtures: the package's own pytest plugin (throwaway servers, ready backends),
pytest's ``pytester`` for tests of that plugin, and the Hypothesis profiles.

Hypothesis profiles (chosen by ``$HYPOTHESIS_PROFILE``, default ``ci``):

* ``ci`` (``make test``): derandomized — every property test tries the same examples on every
  run and machine, so the suite cannot fail by chance; no example database (nothing found on one
  machine changes what another one runs); a failure prints its reproduction blob. Failures found
  once are pinned with ``@example`` next to the test, so they stay covered whatever the profile.
* ``soak`` (``make soak``): random exploration with the example database in ``.hypothesis/``
  (a failure found there is replayed first on the next soak run), so long runs find new cases.

The profile is loaded here, before any test module is imported, because ``settings(...)``
objects built at import time (e.g. a module's shared ``SETTINGS``) take their unset fields from
the profile loaded at that moment.
"""

import os

from _pytest.terminal import TerminalReporter
from hypothesis import settings

pytest_plugins = ["mindtrace.database.testing.plugin", "pytester"]

PROFILE_ENV = "HYPOTHESIS_PROFILE"
"""Environment variable naming the Hypothesis profile: ``ci`` (default) or ``soak``."""

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("soak", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get(PROFILE_ENV) or "ci")


def exploring() -> bool:
    """True under the ``soak`` profile: randomised tests should draw fresh random inputs."""
    return settings.get_current_profile_name() == "soak"


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

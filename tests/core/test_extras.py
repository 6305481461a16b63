"""A backend whose optional extra is missing fails with one clear instruction naming the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mindtrace.database.core.exceptions import BackendNotAvailableError
from mindtrace.database.core.extras import require_extra

# Setting sys.modules[name] = None makes "import name" fail, as if the package were not installed.
_SCRIPT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
import mindtrace.database as db
try:
    db.{attr}
except ImportError as e:
    print(type(e).__name__, e)
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("attr", "blocked", "extra"),
    [
        ("RedisODMBackend", ["redis"], "redis"),
        ("MongoMindtraceODMBackend", ["beanie"], "mongo"),
        ("MindtraceDocument", ["beanie"], "mongo"),
    ],
)
def test_missing_extra_names_the_pip_command(attr: str, blocked: list[str], extra: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(blocked=blocked, attr=attr)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("BackendNotAvailableError"), out
    assert f"pip install 'mindtrace-database[{extra}]'" in out


def test_local_backend_needs_no_extra() -> None:
    script = _SCRIPT.format(blocked=["redis", "beanie", "motor"], attr="LocalODMBackend")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "imported"


def test_require_extra_passes_when_installed_and_names_missing_modules() -> None:
    require_extra("redis", "json", "sqlite3")
    with pytest.raises(BackendNotAvailableError, match=r"no_such_module_xyz.*\[demo\]"):
        require_extra("demo", "json", "no_such_module_xyz")

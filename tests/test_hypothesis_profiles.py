"""``make test`` cannot fail by chance: every Hypothesis test in the suite runs derandomized.

The ``ci`` profile (tests/conftest.py) is derandomized and has no example database; these tests
check that every property test actually runs under it — none overrides ``derandomize`` or
``database`` in its own ``settings``, and every module-level test and shared ``settings`` object
(``FUZZ``, ``SETTINGS``...) carries the profile's values. Under the ``soak`` profile (random
exploration, ``make soak``) they have nothing to check and skip.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.conftest import exploring

TESTS = Path(__file__).parent
PROFILE_KEYS = {"derandomize", "database"}
"""``settings`` arguments that would take a test out of the profile's determinism."""

pytestmark = pytest.mark.skipif(exploring(), reason="the soak profile explores at random on purpose")


def _modules_using_hypothesis() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("*.py")
        if path.name != "conftest.py"
        and path != Path(__file__)
        and "from hypothesis import" in path.read_text(encoding="utf-8")
    )


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _calls_to_settings(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "settings":
                calls.append(node)
    return calls


def _given_tests(tree: ast.Module) -> list[str]:
    """Names of the module-level functions decorated with ``@given``."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Name) and target.id == "given":
                    out.append(node.name)
    return out


def test_the_default_profile_is_derandomized_without_a_database() -> None:
    default = settings.default
    assert default is not None
    assert default.derandomize is True
    assert default.database is None


def test_the_suite_uses_hypothesis() -> None:
    # Guards the scans below against silently scanning nothing (a moved directory, say).
    assert len(_modules_using_hypothesis()) >= 5


@pytest.mark.parametrize("path", _modules_using_hypothesis(), ids=_module_name)
def test_no_settings_call_overrides_the_profile(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for call in _calls_to_settings(tree):
        overridden = {kw.arg or "**" for kw in call.keywords} & PROFILE_KEYS
        assert not overridden, (
            f"{path.name}:{call.lineno}: settings({', '.join(sorted(overridden))}=...) takes the test out of "
            "the derandomized ci profile; leave it to the profiles in tests/conftest.py"
        )


@pytest.mark.parametrize("path", _modules_using_hypothesis(), ids=_module_name)
def test_every_given_test_and_shared_settings_run_derandomized(path: Path) -> None:
    module = importlib.import_module(_module_name(path))
    checked: list[tuple[str, Any]] = []
    for name in _given_tests(ast.parse(path.read_text(encoding="utf-8"))):
        test = getattr(module, name)
        checked.append((name, test._hypothesis_internal_use_settings))
    # Shared settings objects, which the tests that build @given inside their body start from.
    checked += [(name, value) for name, value in vars(module).items() if isinstance(value, settings)]
    assert checked, f"{path.name} imports hypothesis but defines no @given test or settings"
    for name, used in checked:
        assert used.derandomize is True, f"{path.name}:{name} is not derandomized"
        assert used.database is None, f"{path.name}:{name} uses an example database"

"""Checks that the optional dependencies of a backend are installed, before its module imports them."""

from __future__ import annotations

import importlib.util

from mindtrace.database.core.exceptions import BackendNotAvailableError

__all__ = ["require_extra"]


def require_extra(extra: str, *modules: str) -> None:
    """Raise ``BackendNotAvailableError`` naming ``pip install 'mindtrace-database[extra]'`` when
    any of ``modules`` cannot be imported; do nothing when all are installed.

    Backend modules call this first, so a user without the extra gets one clear instruction
    instead of a bare ``ModuleNotFoundError`` from deep inside the import chain.
    """
    missing = [name for name in modules if _find_spec(name) is None]
    if missing:
        raise BackendNotAvailableError(
            f"this backend needs {', '.join(missing)}, which is not installed; "
            f"install it with: pip install 'mindtrace-database[{extra}]'"
        )


def _find_spec(name: str) -> object | None:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        # find_spec raises for a parent package that is missing or was set to None in sys.modules.
        return None

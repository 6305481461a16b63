"""Where the Local backend keeps its database file when no path is given.

Order of precedence: the ``path`` argument, then the ``MINDTRACE_DB_PATH`` environment variable,
then ``$XDG_DATA_HOME/mindtrace/database.sqlite3`` (``~/.local/share/...`` when XDG_DATA_HOME is
unset or not absolute, as the XDG Base Directory spec says; ``%LOCALAPPDATA%\\mindtrace\\...`` on
Windows). ``":memory:"`` keeps everything in memory for the lifetime of the backend.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["DEFAULT_FILE_NAME", "ENV_VAR", "MEMORY", "default_database_path", "resolve_database_path"]

ENV_VAR: Final = "MINDTRACE_DB_PATH"
"""Environment variable naming the database file used when no ``path`` is passed."""

DEFAULT_FILE_NAME: Final = "database.sqlite3"
MEMORY: Final = ":memory:"


def default_database_path(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user default file (ignoring ``MINDTRACE_DB_PATH``); see the module docstring."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "mindtrace" / DEFAULT_FILE_NAME
    xdg = env.get("XDG_DATA_HOME", "")
    base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base_dir / "mindtrace" / DEFAULT_FILE_NAME


def resolve_database_path(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> str:
    """The absolute database path to open (or ``":memory:"``).

    ``~`` is expanded and relative paths are made absolute against the current directory, so a
    later ``chdir`` does not move the database. Directories are not created here.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(ENV_VAR) or default_database_path(env)
    text = os.fspath(path)
    if text == MEMORY:
        return MEMORY
    if not text:
        raise ValueError(f"database path must not be empty; pass {MEMORY!r} for an in-memory database")
    return os.path.abspath(os.path.expanduser(text))

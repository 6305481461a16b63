"""The Lua scripts of the Redis backend: sources from ``lua/*.lua``, with their SHA1 for EVALSHA.

Write scripts are the shared ``prelude.lua`` followed by their own body, so that every write
cleans up expired documents and maintains indexes with the same functions. Scripts are sent
with EVALSHA; a server that answers NOSCRIPT (new or restarted) is sent them with SCRIPT LOAD.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["LuaScript", "Scripts", "load_scripts"]


@dataclass(frozen=True, slots=True)
class LuaScript:
    """One script: its name (for error messages), full source and SHA1 hex digest."""

    name: str
    source: str
    sha: str


@dataclass(frozen=True, slots=True)
class Scripts:
    """Every script the backend runs."""

    insert: LuaScript
    insert_one: LuaScript
    replace: LuaScript
    delete: LuaScript
    purge: LuaScript
    fetch: LuaScript

    def all(self) -> tuple[LuaScript, ...]:
        """All scripts, for SCRIPT LOAD."""
        return (self.insert, self.insert_one, self.replace, self.delete, self.purge, self.fetch)


def _read(name: str) -> str:
    return (resources.files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def _script(name: str, *, prelude: str | None) -> LuaScript:
    source = _read(name) if prelude is None else prelude + "\n" + _read(name)
    return LuaScript(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())


@cache
def load_scripts() -> Scripts:
    """The scripts, read once per process (they are immutable package data)."""
    prelude = _read("prelude")
    return Scripts(
        insert=_script("insert", prelude=prelude),
        insert_one=_script("insert_one", prelude=prelude),
        replace=_script("replace", prelude=prelude),
        delete=_script("delete", prelude=prelude),
        purge=_script("purge", prelude=prelude),
        fetch=_script("fetch", prelude=None),
    )

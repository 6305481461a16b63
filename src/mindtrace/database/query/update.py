"""Placeholder until the update engine lands (issue 2)."""

from __future__ import annotations

from typing import Any


def apply_update(doc: Any, update: Any, *, is_upsert: bool = False) -> Any:
    raise NotImplementedError

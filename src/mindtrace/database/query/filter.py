"""Placeholder until the filter engine lands (issue 2)."""

from __future__ import annotations

from typing import Any


def compile_filter(filter: Any) -> Any:
    raise NotImplementedError


def matches(filter: Any, doc: Any) -> bool:
    raise NotImplementedError

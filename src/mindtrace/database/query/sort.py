"""Placeholder until sorting lands (issue 2)."""

from __future__ import annotations

from typing import Any


def sort_documents(docs: Any, sort: Any) -> Any:
    raise NotImplementedError

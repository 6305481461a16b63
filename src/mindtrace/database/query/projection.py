"""Placeholder until projections land (issue 2)."""

from __future__ import annotations

from typing import Any


def project(doc: Any, projection: Any) -> Any:
    raise NotImplementedError

"""Placeholder until aggregation lands (issue 2)."""

from __future__ import annotations

from typing import Any


def run_pipeline(docs: Any, pipeline: Any, *, collections: Any = None) -> Any:
    raise NotImplementedError

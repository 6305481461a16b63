"""Aggregation pipeline stages, one module per family; :data:`STAGES` maps each name to its compiler."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from mindtrace.database.query.stages import combining, filtering, grouping, ordering, reshaping
from mindtrace.database.query.stages.context import StageCompiler

__all__ = ["STAGES"]


def _stage_table() -> Mapping[str, StageCompiler]:
    table: dict[str, StageCompiler] = {}
    for family in (filtering, reshaping, grouping, ordering, combining):
        duplicates = table.keys() & family.STAGES.keys()
        if duplicates:  # a programming error in the stage modules, caught at import
            raise RuntimeError(f"pipeline stages defined twice: {sorted(duplicates)}")
        table.update(family.STAGES)
    return MappingProxyType(table)


STAGES: Final[Mapping[str, StageCompiler]] = _stage_table()
"""Every supported pipeline stage by name (read-only)."""

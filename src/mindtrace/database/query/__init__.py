"""MongoDB query semantics in pure Python: filters, updates, projections, sorts and aggregation.

No I/O happens here. The Local and Redis backends push down what their storage can answer and
hand everything else to these functions, so every backend answers MongoDB queries the same way.
The ``compile_*`` forms validate once and evaluate many times; the plain forms are one-shot
conveniences. Every function raises ``QueryError`` (naming the operator) for invalid or
unsupported input.
"""

from __future__ import annotations

from mindtrace.database.query.expressions import compile_expression, evaluate
from mindtrace.database.query.filter import compile_filter, matches
from mindtrace.database.query.pipeline import compile_pipeline, run_pipeline
from mindtrace.database.query.projection import compile_projection, project
from mindtrace.database.query.sort import sort_documents, sort_key
from mindtrace.database.query.update import apply_update, compile_update, upsert_seed

__all__ = [
    "apply_update",
    "compile_expression",
    "compile_filter",
    "compile_pipeline",
    "compile_projection",
    "compile_update",
    "evaluate",
    "matches",
    "project",
    "run_pipeline",
    "sort_documents",
    "sort_key",
    "upsert_seed",
]

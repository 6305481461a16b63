"""MongoDB query semantics in pure Python: filters, updates, projections, sorts and aggregation.

No I/O happens here. The Local and Redis backends push down what their storage can answer and
hand everything else to these functions, so every backend answers MongoDB queries the same way.
"""

from __future__ import annotations

from mindtrace.database.query.filter import compile_filter, matches
from mindtrace.database.query.pipeline import run_pipeline
from mindtrace.database.query.projection import project
from mindtrace.database.query.sort import sort_documents
from mindtrace.database.query.update import apply_update

__all__ = ["apply_update", "compile_filter", "matches", "project", "run_pipeline", "sort_documents"]

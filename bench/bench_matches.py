"""Micro-benchmark of the filter engine: documents per second for typical compiled filters.

Each filter is compiled once with ``compile_filter`` and evaluated on every one of N generated
documents (100k by default), which is what the Local and Redis backends do for every candidate
row. The best of several rounds is reported (the machine is shared), with the number of matches
as a sanity check, plus the one-off cost of compiling each filter (what ``matches`` pays per call).

Run: ``.venv/bin/python -m bench.bench_matches`` (``--docs``, ``--rounds`` to change the workload).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from mindtrace.database.query import compile_filter

CITIES = ["Paris", "Lima", "Oslo", "Tokyo", "Cairo", "Quito", "Perth", "Dakar", "Riga", "Hanoi"]
STATUSES = ["active", "inactive", "pending", "banned"]
TAGS = ["vip", "new", "beta", "staff", "trial", "eu", "us"]

FILTERS: dict[str, dict[str, Any]] = {
    "equality": {"status": "active"},
    "range": {"age": {"$gte": 30, "$lt": 40}},
    "$in": {"address.city": {"$in": ["Paris", "Lima", "Oslo"]}},
    "array of subdocs (dotted)": {"orders.sku": "sku-7"},
    "$regex": {"name": {"$regex": "^user1.*7$"}},
    "$elemMatch": {"orders": {"$elemMatch": {"qty": {"$gte": 3}, "price": {"$lt": 20}}}},
    "compound (3 fields)": {"status": "active", "age": {"$gt": 25}, "tags": "vip"},
}


def _order(rng: random.Random) -> dict[str, Any]:
    return {"sku": f"sku-{rng.randint(0, 49)}", "qty": rng.randint(1, 5), "price": rng.randint(1, 100)}


def generate(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` user-like documents with scalars, a subdocument, a tag array and an array of orders."""
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    for i in range(count):
        docs.append(
            {
                "_id": i,
                "name": f"user{i}",
                "age": rng.randint(0, 99),
                "status": rng.choice(STATUSES),
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
                "address": {"city": rng.choice(CITIES), "zip": f"{rng.randint(0, 99999):05d}"},
                "orders": [_order(rng) for _ in range(rng.randint(0, 4))],
            }
        )
    return docs


def _best_seconds(run: Callable[[], int], rounds: int) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(docs: list[dict[str, Any]], filter: Mapping[str, Any], rounds: int) -> tuple[float, int, float]:
    """(documents per second, matching documents, compile time in microseconds) for one filter."""
    compile_seconds, _ = _best_seconds(lambda: bool(compile_filter(filter)) and 0, rounds=20)
    predicate = compile_filter(filter)
    seconds, matched = _best_seconds(lambda: sum(1 for doc in docs if predicate(doc)), rounds)
    return len(docs) / seconds, matched, compile_seconds * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print documents/second per filter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=100_000, help="documents to generate (default 100000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per filter; the best counts")
    args = parser.parse_args(argv)
    docs = generate(args.docs)
    print(f"matches(): {args.docs} documents, best of {args.rounds} rounds, filter compiled once")
    print(f"{'filter':<28}{'docs/s':>14}{'matched':>10}{'compile µs':>12}")
    for name, filter in FILTERS.items():
        rate, matched, compile_us = measure(docs, filter, args.rounds)
        print(f"{name:<28}{rate:>14,.0f}{matched:>10}{compile_us:>12.1f}")


if __name__ == "__main__":
    main()

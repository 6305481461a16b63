"""``python -m bench``: run every benchmark module of this package in turn and print their tables.

A benchmark module is any ``bench/<name>.py`` with a ``main(argv)`` function; each runs with its
own defaults, or with its smoke-run arguments under ``--quick``. ``--only NAME`` (repeatable)
picks modules, by module name or without the ``bench_`` prefix (``--only matches``). A module
that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Run order: the engine first, then the embedded backend, then the server backends.
ORDER = ["bench_matches", "local", "local_contention", "loop_stall", "redis", "mongo"]

# Smoke-run arguments for modules whose command line has no ``--quick``.
QUICK_ARGS: dict[str, list[str]] = {"bench_matches": ["--docs", "2000", "--rounds", "1"]}


def available() -> list[str]:
    """Benchmark module names present in this package, in run order."""
    found = [m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")]
    return sorted(found, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def run_module(name: str, quick: bool) -> bool:
    """Run one benchmark module's ``main``; True if it finished with status 0 (or None)."""
    module = importlib.import_module(f"bench.{name}")
    entry: Callable[[list[str]], Any] | None = getattr(module, "main", None)
    if entry is None:
        print(f"bench.{name}: no main(argv) function; skipped")
        return True
    argv = QUICK_ARGS.get(name, ["--quick"]) if quick else []
    started = time.perf_counter()
    status = entry(argv)
    print(f"(bench.{name} took {time.perf_counter() - started:.1f} s)\n")
    return status in (None, 0)


def _short(name: str) -> str:
    return name.removeprefix("bench_")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the selected benchmarks; returns the exit status."""
    names = available()
    by_short = {_short(n): n for n in names}
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run every benchmark module and print their tables."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=sorted({*names, *by_short}),
        help=f"run only this module, repeatable (of: {', '.join(by_short)})",
    )
    args = parser.parse_args(argv)
    selected = [by_short.get(n, n) for n in args.only] if args.only else names
    failed: list[str] = []
    for name in dict.fromkeys(selected):
        print(f"=== bench.{name}{' (quick)' if args.quick else ''} ===", flush=True)
        try:
            ok = run_module(name, args.quick)
        except SystemExit as e:  # an argparse error or an explicit exit inside the module
            ok = e.code in (None, 0)
        except Exception:  # report and keep going: one broken benchmark must not hide the others
            traceback.print_exc()
            ok = False
        if not ok:
            failed.append(name)
        sys.stdout.flush()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

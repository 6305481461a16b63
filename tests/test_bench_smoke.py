"""``python -m bench --quick`` runs every benchmark module to the end (a smoke run, not a measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.__main__ import available

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_module_runs_quick() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    names = available()
    assert "bench_matches" in names
    for name in names:
        assert f"=== bench.{name} (quick) ===" in result.stdout
        assert f"(bench.{name} took" in result.stdout


def test_only_selects_one_module_and_rejects_unknown_names() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "matches"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "=== bench.bench_matches (quick) ===" in result.stdout
    assert "=== bench.redis" not in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nosuch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "invalid choice: 'nosuch'" in bad.stderr


def test_loop_stall_reports_the_stall_and_the_short_operations() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.loop_stall", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "longest stall: median" in result.stdout
    for operation in ("get by id", "find_one by unique field", "update_many by _id"):
        assert operation in result.stdout

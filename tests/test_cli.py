"""The ``mindtrace-db`` command: demo and stats, in-process through ``main`` and as a subprocess."""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from mindtrace.database import LocalODMBackend
from mindtrace.database.cli import (
    Customer,
    Order,
    Status,
    format_table,
    generate_customers,
    generate_orders,
    main,
)

SMALL = ["--customers", "30", "--orders", "90", "--seed", "3"]


def run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = main(args, out=out)
    return status, out.getvalue()


def without_timings(text: str) -> str:
    return re.sub(r" +\d+\.\d ms", " <t>", text)


def expected_data(seed: int = 3, customers: int = 30, orders: int = 90) -> tuple[list[Customer], list[Order]]:
    rng = random.Random(seed)
    people = generate_customers(rng, customers)
    return people, generate_orders(rng, people, orders)


# ----------------------------------------------------------------------------- demo


def test_demo_runs_every_step_and_prints_tables(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    status, out = run(["demo", str(path), *SMALL])
    assert status == 0
    assert f"database: {path}" in out
    for step in range(1, 11):
        assert f"[{step}/10] " in out
    assert re.search(r"\[1/10\] insert_many 30 customers \.+ +\d+\.\d ms", out)
    assert "[2/10] insert_many 90 orders" in out
    assert "plan: SEARCH orders USING INDEX" in out  # the equality find uses the declared index
    for header in ("placed", "status", "revenue", "units", "tier"):
        assert header in out
    assert f"mindtrace-db stats {path}" in out

    people, sales = expected_data()
    # Table rows are aligned: every country of the data set has a revenue row.
    countries = {o.shipping.country for o in sales if o.status is not Status.CANCELLED}
    for country in countries:
        assert re.search(rf"^  {country} +\d+ +[\d,]+\.\d\d +[\d,]+\.\d\d$", out, re.MULTILINE)
    # The update cancelled exactly the pending orders placed before July.
    july = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    stale = sum(1 for o in sales if o.status is Status.PENDING and o.placed_at < july)
    assert f"matched {stale}, modified {stale}" in out
    with LocalODMBackend(Order, path=path) as orders, LocalODMBackend(Customer, path=path) as customers:
        assert orders.count_sync() == len(sales) and customers.count_sync() == len(people)
        assert orders.count_sync({"status": "pending", "placed_at": {"$lt": july}}) == 0
        assert orders.count_sync({"status": "cancelled"}) == stale + sum(
            1 for o in sales if o.status is Status.CANCELLED
        )


def test_demo_revenue_matches_the_data(tmp_path: Path) -> None:
    _, out = run(["demo", str(tmp_path / "d.db"), *SMALL])
    _, sales = expected_data()
    july = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for o in sales:
        cancelled = o.status is Status.CANCELLED or (o.status is Status.PENDING and o.placed_at < july)
        if not cancelled:
            revenue[o.shipping.country] += o.total
    for country, total in revenue.items():
        assert re.search(rf"^  {country} +\d+ +{total:,.2f} ", out, re.MULTILINE)


def test_demo_is_deterministic(tmp_path: Path) -> None:
    _, first = run(["demo", str(tmp_path / "a.db"), *SMALL])
    _, second = run(["demo", str(tmp_path / "b.db"), *SMALL])
    assert without_timings(first).replace("a.db", "X") == without_timings(second).replace("b.db", "X")
    _, other_seed = run(
        ["demo", str(tmp_path / "c.db"), "--customers", "30", "--orders", "90", "--seed", "4"]
    )
    assert without_timings(other_seed).replace("c.db", "X") != without_timings(first).replace("a.db", "X")


def test_demo_in_a_directory_and_in_a_temporary_one(tmp_path: Path) -> None:
    status, out = run(["demo", str(tmp_path), *SMALL])
    assert status == 0 and (tmp_path / "demo.db").exists()
    status, out = run(["demo", "--customers", "3", "--orders", "5"])
    assert status == 0
    match = re.search(r"^database: (.+)$", out, re.MULTILINE)
    assert match is not None
    created = Path(match.group(1))
    try:
        assert created.exists() and created.name == "demo.db"
        assert created.parent.name.startswith("mindtrace-demo-")
    finally:
        shutil.rmtree(created.parent)


def test_demo_refuses_to_clobber(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.db"
    assert run(["demo", str(path), *SMALL])[0] == 0
    assert run(["demo", str(path), *SMALL])[0] == 1
    assert "already exists" in capsys.readouterr().err
    assert run(["demo", str(path), "--overwrite", *SMALL])[0] == 0
    with LocalODMBackend(Order, path=path) as orders:
        assert orders.count_sync() == 90  # replaced, not appended
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    assert run(["demo", str(precious), "--overwrite"])[0] == 1
    assert "not a database" in capsys.readouterr().err
    assert precious.read_text() == "keep me"


def test_demo_rejects_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", str(tmp_path / "x.db"), "--orders", "0"])[0] == 1
    assert "at least 1" in capsys.readouterr().err


# ----------------------------------------------------------------------------- stats


def test_stats_lists_collections_counts_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    run(["demo", str(path), *SMALL])
    before = path.read_bytes()
    status, out = run(["stats", str(path)])
    assert status == 0
    assert f"database: {path}" in out
    assert re.search(r"file size: [\d.]+ KiB", out)
    assert re.search(r"^customers +30 +[\d.]+ KiB +email_1 \(unique\)$", out, re.MULTILINE)
    assert re.search(r"^orders +90 +[\d.]+ KiB +customer_email_1, total_1$", out, re.MULTILINE)
    assert "2 collections, 120 documents" in out
    assert path.read_bytes() == before  # read-only


def test_stats_of_a_fresh_backend_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with LocalODMBackend(Customer, path=path) as customers:
        customers.initialize_sync()
    status, out = run(["stats", str(path)])
    assert status == 0
    assert re.search(r"^customers +0 +0 B +email_1 \(unique\)$", out, re.MULTILINE)
    assert "1 collection, 0 documents" in out


def test_stats_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["stats", str(tmp_path / "missing.db")])[0] == 1
    assert "does not exist" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert run(["stats", str(text)])[0] == 1
    assert "not a mindtrace-database file" in capsys.readouterr().err
    assert run(["stats", str(tmp_path)])[0] == 1
    assert "is a directory" in capsys.readouterr().err
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE people (name TEXT, age INT)")
    db.close()
    assert run(["stats", str(foreign)])[0] == 1
    assert "SQLite database but not a mindtrace-database file" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["stats"])
    assert info.value.code == 2
    assert "path" in capsys.readouterr().err


# ----------------------------------------------------------------------------- as a program


def test_subprocess_demo_then_stats(tmp_path: Path) -> None:
    path = tmp_path / "sub.db"
    script = Path(sys.executable).with_name("mindtrace-db")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mindtrace.database.cli"]
    demo = subprocess.run(
        [*command, "demo", str(path), *SMALL], capture_output=True, text=True, timeout=120, check=False
    )
    assert demo.returncode == 0, demo.stderr
    assert "[10/10]" in demo.stdout and demo.stderr == ""
    stats = subprocess.run(
        [sys.executable, "-m", "mindtrace.database.cli", "stats", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stats.returncode == 0, stats.stderr
    assert "2 collections, 120 documents" in stats.stdout
    missing = subprocess.run(
        [*command, "stats", str(tmp_path / "nope.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("mindtrace-db stats: error:")


# ----------------------------------------------------------------------------- tables


def test_format_table_aligns_columns() -> None:
    table = format_table(
        ["name", "n", "price", "size"],
        [["a", 5, Decimal("3.5"), "1 KiB"], ["longer", 1234, Decimal("1234.567"), "10 KiB"]],
        indent="",
        right={"size"},
    )
    assert table.splitlines() == [
        "name        n     price    size",
        "------  -----  --------  ------",
        "a           5      3.50   1 KiB",
        "longer  1,234  1,234.57  10 KiB",
    ]
    assert format_table(["x"], []).splitlines()[-1] == "  (no rows)"


def test_describe_database_reports_collections_counts_and_indexes(tmp_path: Path) -> None:
    """The public read-only description behind ``stats``, usable without the CLI."""
    from mindtrace.database.backends.local.sqlite_inspect import describe_database  # noqa: PLC0415

    path = tmp_path / "shop.db"
    main(["demo", str(path)])
    info = describe_database(path)
    by_name = {c.name: c for c in info.collections}
    assert set(by_name) >= {"customers", "orders"}
    assert by_name["customers"].documents == 120 and by_name["orders"].documents == 600
    assert any(ix.startswith("email") and ix.endswith("(unique)") for ix in by_name["customers"].indexes)
    assert info.file_bytes > 0
    before = path.read_bytes()
    describe_database(path)
    assert path.read_bytes() == before  # read-only

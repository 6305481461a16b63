"""The ``mindtrace-db`` command: ``demo`` shows the Local backend at work; ``stats`` describes a database."""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, TypeVar

from pydantic import BaseModel

from mindtrace.database.backends.local.sqlite_inspect import describe_database, is_sqlite_file
from mindtrace.database.backends.local.write_gate import SUFFIX as WRITE_GATE_SUFFIX
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.core.exceptions import DatabaseError
from mindtrace.database.core.fields import fields
from mindtrace.database.core.indexes import Index
from mindtrace.database.core.model import MindtraceModel

__all__ = ["format_table", "main", "run_demo", "run_stats"]

T = TypeVar("T")


# ----------------------------------------------------------------------------- demo data set


class Tier(enum.Enum):
    """Customer loyalty tier."""

    STANDARD = "standard"
    SILVER = "silver"
    GOLD = "gold"


class Status(enum.Enum):
    """Where an order is in its life."""

    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Address(BaseModel):
    """A shipping address (nested in orders)."""

    city: str
    country: str


class Customer(MindtraceModel):
    """A demo customer; ``email`` is unique."""

    name: str
    email: str
    tier: Tier
    joined: dt.date
    address: Address
    tags: list[str] = []

    class Settings:
        name = "customers"
        indexes = [Index("email", unique=True)]


class LineItem(BaseModel):
    """One product line of an order."""

    sku: str
    qty: int
    unit_price: Decimal


class Order(MindtraceModel):
    """A demo order; indexed by customer and by total."""

    customer_email: str
    placed_at: dt.datetime
    status: Status
    items: list[LineItem]
    total: Decimal
    shipping: Address

    class Settings:
        name = "orders"
        indexes = [Index("customer_email"), Index("total")]


_FIRST = [
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim",
    "Margaret", "Dennis", "Hedy", "Linus", "Sophie", "Guido", "Anita", "John", "Karen", "Niklaus",
]  # fmt: skip
_LAST = [
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
    "Perlman", "Berners-Lee", "Hamilton", "Ritchie", "Lamarr", "Torvalds", "Wilson", "Rossum",
]  # fmt: skip
_CITIES = [
    ("Paris", "FR"), ("Lyon", "FR"), ("Berlin", "DE"), ("Munich", "DE"), ("London", "GB"),
    ("Leeds", "GB"), ("Madrid", "ES"), ("Milan", "IT"), ("Amsterdam", "NL"), ("Lisbon", "PT"),
]  # fmt: skip
_PRODUCTS = [
    ("KB-101", "Mechanical keyboard", "89.00"), ("MS-220", "Wireless mouse", "29.50"),
    ("MN-270", '27" monitor', "249.00"), ("HD-500", "Noise-cancelling headset", "159.99"),
    ("CB-010", "USB-C cable", "9.90"), ("DK-300", "Docking station", "129.00"),
    ("WC-080", "Webcam", "59.00"), ("SS-1TB", "1 TB SSD", "94.90"),
    ("LP-014", "Laptop stand", "39.00"), ("CH-900", "Ergonomic chair", "399.00"),
    ("DL-120", "Desk lamp", "34.90"), ("MP-002", "Mouse pad", "7.50"),
]  # fmt: skip
_TAGS = ["newsletter", "b2b", "mobile", "returning", "student"]
_YEAR_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def generate_customers(rng: random.Random, n: int) -> list[Customer]:
    """``n`` deterministic customers (unique emails) drawn from ``rng``."""
    out = []
    for i in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, country = rng.choice(_CITIES)
        out.append(
            Customer(
                name=f"{first} {last}",
                email=f"{first}.{last}{i}@example.com".lower(),
                tier=rng.choices(list(Tier), weights=[70, 20, 10])[0],
                joined=dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(4 * 365)),
                address=Address(city=city, country=country),
                tags=sorted(rng.sample(_TAGS, rng.randrange(3))),
            )
        )
    return out


def generate_orders(rng: random.Random, customers: Sequence[Customer], n: int) -> list[Order]:
    """``n`` deterministic orders over one year, each for one of ``customers``."""
    out = []
    for _ in range(n):
        customer = rng.choice(customers)
        items = [
            LineItem(sku=sku, qty=rng.randint(1, 3), unit_price=Decimal(price))
            for sku, _name, price in rng.sample(_PRODUCTS, rng.randint(1, 4))
        ]
        out.append(
            Order(
                customer_email=customer.email,
                placed_at=_YEAR_START + dt.timedelta(minutes=rng.randrange(366 * 24 * 60)),
                status=rng.choices(list(Status), weights=[15, 20, 60, 5])[0],
                items=items,
                total=sum((item.unit_price * item.qty for item in items), Decimal("0.00")),
                shipping=customer.address,
            )
        )
    return out


# ----------------------------------------------------------------------------- output


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    indent: str = "  ",
    right: Collection[str] = (),
) -> str:
    """An aligned plain-text table. Columns of numbers, and those named in ``right``, are
    right-aligned; everything else is left-aligned. Decimals and floats show two decimals."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        h in right
        or (
            bool(rows)
            and all(
                isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool) for row in rows
            )
        )
        for i, h in enumerate(headers)
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    if not rows:
        out.append(indent + "(no rows)")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class _Steps:
    """Numbered progress lines with timings: ``[3/9] find ... 0.4 ms``."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.done = 0

    def run(self, title: str, action: Callable[[], T]) -> T:
        self.done += 1
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
        label = f"[{self.done}/{self.total}] {title} "
        self.out.write(f"{label.ljust(66, '.')} {_ms(elapsed):>9}\n")
        return result

    def show(self, text: str) -> None:
        self.out.write(text + "\n")


# ----------------------------------------------------------------------------- demo


def run_demo(path: Path, *, customers: int, orders: int, seed: int, out: TextIO) -> None:
    """Create a database at ``path`` and run the demo's inserts, queries, update and aggregations.

    Uses the blocking ``_sync`` API so the demo reads like a script. Raises ``DatabaseError`` on
    storage failures.
    """
    rng = random.Random(seed)
    people = generate_customers(rng, customers)
    sales = generate_orders(rng, people, orders)
    o = fields(Order)
    steps = _Steps(out, 10)
    out.write(f"mindtrace-db demo: embedded Local backend (SQLite)\ndatabase: {path}\n\n")

    with (
        LocalODMBackend(Customer, path=str(path)) as customer_db,
        LocalODMBackend(Order, path=str(path)) as order_db,
    ):
        steps.run(f"insert_many {len(people)} customers", lambda: customer_db.insert_many_sync(people))
        steps.run(f"insert_many {len(sales)} orders", lambda: order_db.insert_many_sync(sales))

        # The most loyal customer, so the indexed lookup below has a few orders to show.
        best_email = Counter(x.customer_email for x in sales).most_common(1)[0][0]
        who = next(c for c in people if c.email == best_email)
        found = steps.run(
            "find_one customer by email (unique index)",
            lambda: customer_db.find_one_sync(fields(Customer).email == who.email),
        )
        assert found is not None  # inserted just above
        history = steps.run(
            "find orders of that customer (indexed equality)",
            lambda: order_db.find_sync(o.customer_email == who.email, sort="placed_at"),
        )
        steps.show(f"  {found.name} <{found.email}>, {found.tier.value}, {found.address.city}")
        steps.show(f"  plan: {'; '.join(order_db.explain(o.customer_email == who.email))}")
        steps.show(
            format_table(
                ["placed", "status", "lines", "total"],
                [[x.placed_at, x.status, len(x.items), x.total] for x in history],
            )
            + "\n"
        )

        big = (o.total >= 300) & (o.status == Status.DELIVERED.value)
        top = steps.run(
            "find delivered orders >= 300, sort -total, limit 5",
            lambda: order_db.find_sync(big, sort="-total", limit=5),
        )
        steps.show(
            format_table(
                ["customer", "placed", "city", "total"],
                [[x.customer_email, x.placed_at, x.shipping.city, x.total] for x in top],
            )
            + "\n"
        )

        keyboards = o.items.sku == "KB-101"
        continental = o.shipping.country.in_(["FR", "DE"])
        matches = steps.run(
            "count + find keyboards shipped to FR/DE (array, nested)",
            lambda: (
                order_db.count_sync(keyboards, continental),
                order_db.find_sync(keyboards, continental, sort="placed_at", limit=3),
            ),
        )
        steps.show(f"  {matches[0]} orders; the first three:")
        steps.show(
            format_table(
                ["placed", "country", "qty", "total"],
                [
                    [
                        x.placed_at,
                        x.shipping.country,
                        sum(i.qty for i in x.items if i.sku == "KB-101"),
                        x.total,
                    ]
                    for x in matches[1]
                ],
            )
            + "\n"
        )

        stale = (o.status == Status.PENDING.value) & (o.placed_at < dt.datetime(2024, 7, 1, tzinfo=dt.UTC))
        result = steps.run(
            "update_many: cancel pending orders placed before July",
            lambda: order_db.update_many_sync(stale, {"$set": {"status": Status.CANCELLED.value}}),
        )
        steps.show(f"  matched {result.matched_count}, modified {result.modified_count}\n")

        revenue = steps.run(
            "aggregate: revenue per country",
            lambda: order_db.aggregate_sync(
                [
                    {"$match": o.status != Status.CANCELLED.value},
                    {
                        "$group": {
                            "_id": "$shipping.country",
                            "orders": {"$sum": 1},
                            "revenue": {"$sum": "$total"},
                            "average": {"$avg": "$total"},
                        }
                    },
                    {"$sort": {"revenue": -1}},
                ]
            ),
        )
        steps.show(
            format_table(
                ["country", "orders", "revenue", "average"],
                [[r["_id"], r["orders"], r["revenue"], r["average"]] for r in revenue],
            )
            + "\n"
        )

        products = steps.run(
            "aggregate: best-selling products ($unwind)",
            lambda: order_db.aggregate_sync(
                [
                    {"$unwind": "$items"},
                    {"$group": {"_id": "$items.sku", "units": {"$sum": "$items.qty"}, "orders": {"$sum": 1}}},
                    {"$sort": {"units": -1, "_id": 1}},
                    {"$limit": 5},
                ]
            ),
        )
        names = {sku: name for sku, name, _ in _PRODUCTS}
        steps.show(
            format_table(
                ["sku", "product", "units", "orders"],
                [[r["_id"], names.get(r["_id"], "?"), r["units"], r["orders"]] for r in products],
            )
            + "\n"
        )

        tiers = steps.run(
            "aggregate: spend per customer tier ($lookup)",
            lambda: order_db.aggregate_sync(
                [
                    {"$match": o.status != Status.CANCELLED.value},
                    {
                        "$lookup": {
                            "from": "customers",
                            "localField": "customer_email",
                            "foreignField": "email",
                            "as": "customer",
                        }
                    },
                    {"$unwind": "$customer"},
                    {"$group": {"_id": "$customer.tier", "orders": {"$sum": 1}, "spent": {"$sum": "$total"}}},
                    {"$sort": {"spent": -1}},
                ]
            ),
        )
        steps.show(
            format_table(["tier", "orders", "spent"], [[r["_id"], r["orders"], r["spent"]] for r in tiers])
        )

    out.write(f"\nDone. The database is kept at {path}\nInspect it with: mindtrace-db stats {path}\n")


# ----------------------------------------------------------------------------- stats


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def run_stats(path: Path, *, out: TextIO) -> None:
    """Print the collections, document counts, indexes and file size of the database at ``path``.

    Opens the file read-only and never modifies it. Raises ``FileNotFoundError`` if it does not
    exist and ``ValueError`` if it is not a mindtrace-database file.
    """
    info = describe_database(path)
    rows = [
        [c.name, c.documents, _human_size(c.data_bytes), ", ".join(c.indexes) or "-"]
        for c in info.collections
    ]
    out.write(f"database: {path}\n")
    out.write(
        f"file size: {_human_size(info.file_bytes)} (+ {_human_size(info.wal_bytes)} write-ahead log)\n\n"
    )
    out.write(
        format_table(["collection", "documents", "data", "indexes"], rows, indent="", right={"data"}) + "\n"
    )
    total = sum(c.documents for c in info.collections)
    plural = "" if len(rows) == 1 else "s"
    out.write(f"\n{len(rows)} collection{plural}, {total:,} documents\n")


# ----------------------------------------------------------------------------- entry point


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mindtrace-db",
        description="Tools for mindtrace-database's embedded Local backend.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="create a demo database and run queries on it",
        description="Create a Local database, insert customers and orders, and run finds, an "
        "update and aggregations on them, printing tables and timings.",
    )
    demo.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="database file to create, or a directory for demo.db (default: a new temporary directory)",
    )
    demo.add_argument("--customers", type=int, default=120, help="number of customers (default: 120)")
    demo.add_argument("--orders", type=int, default=600, help="number of orders (default: 600)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the generated data (default: 7)")
    demo.add_argument("--overwrite", action="store_true", help="replace PATH if it already exists")
    stats = sub.add_parser(
        "stats",
        help="describe a database file",
        description="List the collections of a Local database with document counts, indexes and file size.",
    )
    stats.add_argument("path", type=Path, help="database file")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``mindtrace-db`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Errors the user can fix (missing file, not a database, existing demo path) print one line to
    stderr and return 1; argument errors exit with status 2 as usual for argparse.
    """
    args = _parser().parse_args(argv)
    stdout = out if out is not None else sys.stdout
    try:
        if args.command == "demo":
            if args.customers < 1 or args.orders < 1:
                raise ValueError("--customers and --orders must be at least 1")
            path: Path = args.path or Path(tempfile.mkdtemp(prefix="mindtrace-demo-")) / "demo.db"
            if path.is_dir():
                path = path / "demo.db"
            if path.exists():
                if not args.overwrite:
                    raise FileExistsError(f"{path} already exists; choose another path or pass --overwrite")
                if path.is_dir() or not is_sqlite_file(path):
                    raise FileExistsError(f"{path} exists and is not a database; refusing to overwrite it")
                _remove_database(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            run_demo(path, customers=args.customers, orders=args.orders, seed=args.seed, out=stdout)
        else:
            run_stats(args.path, out=stdout)
    except BrokenPipeError:
        # The reader went away (``mindtrace-db demo | head``): nothing left to tell anyone.
        sys.stderr.close()
        return 1
    except (OSError, ValueError, DatabaseError, sqlite3.Error) as e:
        print(f"mindtrace-db {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


def _remove_database(path: Path) -> None:
    # SQLite in WAL mode keeps two companion files next to the database, and the write gate one.
    for suffix in ("", "-wal", "-shm", WRITE_GATE_SUFFIX):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())

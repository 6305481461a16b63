"""The same model and values read back the same from every store: datetimes and ids.

* Datetimes keep milliseconds on every store (truncated when written: documents, update operands,
  filters), so ``insert()`` returns what ``get()`` returns. ``AwareDatetime`` comes back aware at
  any depth (sub-models, lists, dicts, optional), naive values naive; the instant never changes.
  An aware value keeps its offset where the store can keep it (``keeps_utc_offset``), else it
  comes back in UTC. Projection dicts follow the model's declarations; aggregation results carry
  aware datetimes.
* Ids are 24-hex strings in every result, aggregation results included (``$first: "$_id"``,
  joined documents), and a ``$lookup`` from a field holding another document's id to that
  collection's ``_id`` joins on every store, both ways.

See docs/decisions.md ("Datetimes on every store", "Ids in results and joins").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel

from mindtrace.database import MindtraceModel
from tests.conformance.conftest import Api, Database

PARIS = dt.timezone(dt.timedelta(hours=2))
AT = dt.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=PARIS)  # microseconds: truncated to .123
NAIVE = dt.datetime(2023, 1, 2, 3, 4, 5, 678901)


def ms(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class Stamp(BaseModel):
    at: AwareDatetime
    note: str = ""


class Timeline(MindtraceModel):
    created: AwareDatetime
    naive: dt.datetime
    stamp: Stamp
    stamps: list[Stamp] = []
    moments: list[AwareDatetime] = []
    maybe: AwareDatetime | None = None
    by_name: dict[str, AwareDatetime] = {}
    loose: dt.datetime | None = None  # a plain datetime field given an aware value

    class Settings:
        name = "fidelity_timelines"


def timeline(i: int = 0) -> Timeline:
    day = dt.timedelta(days=i)
    return Timeline(
        created=AT + day,
        naive=NAIVE + day,
        stamp=Stamp(at=AT + day, note="one"),
        stamps=[Stamp(at=AT), Stamp(at=AT + dt.timedelta(hours=1))],
        moments=[AT, AT.astimezone(dt.UTC)],
        maybe=AT,
        by_name={"start": AT},
        loose=AT,
    )


def aware_instants(t: Timeline) -> list[dt.datetime]:
    return [t.created, t.stamp.at, *(s.at for s in t.stamps), *t.moments, t.maybe, *t.by_name.values()]  # type: ignore[list-item]


def assert_same_timeline(got: Timeline, want: Timeline, keeps_offset: bool) -> None:
    """Equal instants at millisecond precision; aware where declared; offsets as the store keeps them."""
    expected = [ms(v) for v in aware_instants(want)]
    found = aware_instants(got)
    assert found == expected  # aware datetimes compare as instants
    for value, original in zip(found, aware_instants(want), strict=True):
        assert value.tzinfo is not None
        assert value.utcoffset() == (original.utcoffset() if keeps_offset else dt.timedelta(0))
    assert got.naive == ms(want.naive) and got.naive.tzinfo is None
    assert want.loose is not None and got.loose is not None
    if keeps_offset:
        assert got.loose == ms(want.loose) and got.loose.utcoffset() == want.loose.utcoffset()
    else:  # the same instant in UTC; BSON does not say whether the value was aware
        assert got.loose.replace(tzinfo=got.loose.tzinfo or dt.UTC) == ms(want.loose)
        assert got.loose.utcoffset() in (None, dt.timedelta(0))


async def test_datetimes_read_back_alike_through_every_read(db: Database) -> None:
    timelines = await db.open(Timeline)
    keeps = db.caps.keeps_utc_offset
    stored = await timelines.insert(timeline())
    assert_same_timeline(stored, timeline(), keeps)
    got = await timelines.get(stored.id)
    assert got == stored  # what insert returns is what the store gives back
    assert_same_timeline(got, timeline(), keeps)
    [found] = await timelines.find({})
    [streamed] = await timelines.collect()
    assert found == streamed == stored
    [many] = await timelines.insert_many([timeline(1)])
    assert await timelines.get(many.id) == many
    assert_same_timeline(many, timeline(1), keeps)
    replaced = await timelines.update(timeline(2).model_copy(update={"id": stored.id}))
    assert await timelines.get(stored.id) == replaced
    assert_same_timeline(replaced, timeline(2), keeps)


async def test_milliseconds_on_every_write_path(db: Database) -> None:
    timelines = await db.open(Timeline)
    stored = await timelines.insert(timeline())
    assert stored.created.microsecond == 123000 and stored.naive.microsecond == 678000
    later = dt.datetime(2025, 1, 1, 0, 0, 0, 999999, tzinfo=dt.UTC)
    await timelines.update_many(
        {"_id": stored.id}, {"$set": {"created": later, "naive": NAIVE}, "$push": {"moments": later}}
    )
    got = await timelines.get(stored.id)
    assert got.created == ms(later) and got.naive == ms(NAIVE) and got.moments[-1] == ms(later)
    # $currentDate ticks in milliseconds too.
    await timelines.update_many({"_id": stored.id}, {"$currentDate": {"created": True}})
    now = (await timelines.get(stored.id)).created
    assert now.microsecond % 1000 == 0 and now.tzinfo is not None
    # A filter value with microseconds compares at the stored precision, as MongoDB's BSON does.
    assert await timelines.count({"naive": NAIVE}) == 1
    assert await timelines.count({"naive": {"$lt": NAIVE}}) == 0


async def test_projection_dicts_follow_the_model(db: Database) -> None:
    timelines = await db.open(Timeline)
    stored = await timelines.insert(timeline())
    [row] = await timelines.find({}, projection={"created": 1, "naive": 1, "stamp": 1, "moments": 1})
    assert type(row["_id"]) is str and row["_id"] == stored.id
    assert row["created"] == ms(AT) and row["created"].tzinfo is not None
    assert row["stamp"]["at"] == ms(AT) and row["stamp"]["at"].tzinfo is not None
    assert row["moments"] == [ms(AT), ms(AT)] and all(m.tzinfo is not None for m in row["moments"])
    assert row["naive"] == ms(NAIVE) and row["naive"].tzinfo is None


async def test_aggregation_datetimes_are_aware(db: Database) -> None:
    timelines = await db.open(Timeline)
    await timelines.insert_many([timeline(i) for i in range(3)])
    [row] = await timelines.aggregate(
        [{"$group": {"_id": None, "last": {"$max": "$created"}, "first_at": {"$min": "$stamp.at"}}}]
    )
    assert row["last"] == ms(AT + dt.timedelta(days=2)) and row["last"].tzinfo is not None
    assert row["first_at"] == ms(AT) and row["first_at"].tzinfo is not None
    rows = await timelines.aggregate([{"$sort": {"naive": 1}}, {"$project": {"_id": 0, "created": 1}}])
    assert [r["created"] for r in rows] == [ms(AT + dt.timedelta(days=i)) for i in range(3)]
    assert all(r["created"].tzinfo is not None for r in rows)


async def test_aggregation_turns_naive_datetimes_aware_in_utc(db: Database) -> None:
    timelines = await db.open(Timeline)
    await timelines.insert(timeline())
    [row] = await timelines.aggregate([{"$project": {"_id": 0, "naive": 1}}])
    assert row["naive"] == ms(NAIVE).replace(tzinfo=dt.UTC) and row["naive"].utcoffset() == dt.timedelta(0)


# ----------------------------------------------------------------------------- ids


class Dataset(MindtraceModel):
    name: str
    status: str = "ready"

    class Settings:
        name = "fidelity_datasets"


class Run(MindtraceModel):
    name: str
    dataset_id: str | None = None  # another document's id, as the model holds it: a 24-hex string
    inputs: list[str] = []

    class Settings:
        name = "fidelity_runs"


async def test_ids_in_aggregation_results_are_strings(db: Database) -> None:
    datasets = await db.open(Dataset)
    stored = await datasets.insert_many(
        [Dataset(name="a"), Dataset(name="b"), Dataset(name="c", status="building")]
    )
    ids = [d.id for d in stored]
    rows = await datasets.aggregate(
        [
            {"$sort": {"name": 1}},
            {"$group": {"_id": "$status", "first": {"$first": "$_id"}, "all": {"$push": "$_id"}}},
            {"$sort": {"_id": 1}},
        ]
    )
    assert rows == [
        {"_id": "building", "first": ids[2], "all": [ids[2]]},
        {"_id": "ready", "first": ids[0], "all": ids[:2]},
    ]
    assert all(type(v) is str for r in rows for v in [r["first"], *r["all"]])
    [row] = await datasets.aggregate(
        [{"$match": {"_id": ids[1]}}, {"$project": {"copy": "$_id", "kind": {"$type": "$_id"}}}]
    )
    assert row == {"_id": ids[1], "copy": ids[1], "kind": "string"}


async def joined(db: Database) -> tuple[Api, Api, list[Dataset], list[Run]]:
    db.require("shared_database")
    datasets = await db.open(Dataset)
    runs = await db.open(Run)
    sets = await datasets.insert_many([Dataset(name="a"), Dataset(name="b"), Dataset(name="unused")])
    made = await runs.insert_many(
        [
            Run(name="r1", dataset_id=sets[0].id, inputs=[sets[0].id, sets[1].id]),
            Run(name="r2", dataset_id=sets[0].id),
            Run(name="r3", dataset_id=sets[1].id, inputs=["not-an-id"]),
            Run(name="r4", dataset_id="0" * 24),  # an id nothing has
            Run(name="r5"),  # no dataset
        ]
    )
    return datasets, runs, sets, made


async def test_lookup_from_an_id_field_to_the_id(db: Database) -> None:
    _, runs, sets, _ = await joined(db)
    rows = await runs.aggregate(
        [
            {
                "$lookup": {
                    "from": "fidelity_datasets",
                    "localField": "dataset_id",
                    "foreignField": "_id",
                    "as": "ds",
                }
            },
            {
                "$lookup": {
                    "from": "fidelity_datasets",
                    "localField": "inputs",
                    "foreignField": "_id",
                    "as": "ins",
                }
            },
            {"$sort": {"name": 1}},
        ]
    )
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["r1", "r2", "r3", "r4", "r5"]
    names = {name: [d["name"] for d in r["ds"]] for name, r in by_name.items()}
    assert names == {"r1": ["a"], "r2": ["a"], "r3": ["b"], "r4": [], "r5": []}
    assert sorted(d["name"] for d in by_name["r1"]["ins"]) == ["a", "b"]
    assert by_name["r3"]["ins"] == []
    joined_doc = by_name["r1"]["ds"][0]
    assert joined_doc == {"_id": sets[0].id, "name": "a", "status": "ready"}  # the id as a string
    # The join leaves the documents as they were (no helper fields).
    assert set(by_name["r1"]) == {"_id", "name", "dataset_id", "inputs", "ds", "ins"}
    assert by_name["r1"]["dataset_id"] == sets[0].id


async def test_lookup_from_the_id_to_an_id_field(db: Database) -> None:
    datasets, _, _, made = await joined(db)
    rows = await datasets.aggregate(
        [
            {
                "$lookup": {
                    "from": "fidelity_runs",
                    "localField": "_id",
                    "foreignField": "dataset_id",
                    "as": "runs",
                }
            },
            {"$sort": {"name": 1}},
        ]
    )
    ids = {r.name: r.id for r in made}
    got = [(r["name"], sorted((run["name"], run["_id"]) for run in r["runs"])) for r in rows]
    assert got == [
        ("a", [("r1", ids["r1"]), ("r2", ids["r2"])]),
        ("b", [("r3", ids["r3"])]),
        ("unused", []),
    ]


async def test_lookup_with_a_pipeline_on_ids(db: Database) -> None:
    _, runs, sets, _ = await joined(db)
    rows: list[dict[str, Any]] = await runs.aggregate(
        [
            {"$match": {"name": {"$in": ["r1", "r3"]}}},
            {
                "$lookup": {
                    "from": "fidelity_datasets",
                    "let": {"wanted": "$dataset_id"},
                    "pipeline": [
                        {"$match": {"$expr": {"$eq": ["$_id", "$$wanted"]}}},
                        {"$project": {"name": 1}},
                    ],
                    "as": "ds",
                }
            },
            {"$sort": {"name": 1}},
            {"$project": {"_id": 0, "name": 1, "ds": 1}},
        ]
    )
    assert rows == [
        {"name": "r1", "ds": [{"_id": sets[0].id, "name": "a"}]},
        {"name": "r3", "ds": [{"_id": sets[1].id, "name": "b"}]},
    ]

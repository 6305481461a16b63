"""Aggregation on MongoDB: ids as strings wherever they travel, joins on ids, aware datetimes.

The conformance suite (tests/conformance/test_fidelity_types.py) checks the common cases on every
store; these are the MongoDB-side details of backends/mongo/pipelines.py.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from mindtrace.database import MindtraceModel
from mindtrace.database.backends.mongo.pipelines import ids_as_strings
from tests.backends.mongo.conftest import Setup
from tests.backends.mongo.models import House, Window


class Dataset(MindtraceModel):
    name: str
    parent_id: str | None = None
    made: dt.datetime | None = None

    class Settings:
        name = "datasets"


class Run(MindtraceModel):
    name: str
    dataset_id: str
    ref: Any = None  # an ObjectId-valued field (as Beanie's PydanticObjectId stores)

    class Settings:
        name = "runs"


async def seed(mongo: Setup) -> tuple[Any, Any, list[Dataset], list[Run]]:
    datasets = mongo.backend(Dataset)
    runs = mongo.backend(Run)
    root, child = await datasets.insert_many([Dataset(name="root"), Dataset(name="child")])
    await datasets.update_many({"_id": child.id}, {"$set": {"parent_id": root.id}})
    made = await runs.insert_many(
        [Run(name="r1", dataset_id=root.id, ref=ObjectId(child.id)), Run(name="r2", dataset_id=child.id)]
    )
    return datasets, runs, [root, child], made


def test_the_rewrite_keeps_index_friendly_stages_first_and_the_input_intact() -> None:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"_id": ObjectId()}},
        {"$sort": {"_id": 1}},
        {"$lookup": {"from": "x", "localField": "ref", "foreignField": "_id", "as": "x"}},
    ]
    before = copy.deepcopy(pipeline)
    out = ids_as_strings(pipeline)
    assert pipeline == before
    assert out[:2] == pipeline[:2]
    assert [next(iter(s)) for s in out[2:]] == ["$set", "$set", "$lookup", "$unset", "$set"]
    # Nothing after the leading stages: nothing to convert (the top-level _id is converted on read).
    assert ids_as_strings(pipeline[:2]) == pipeline[:2]
    # In a sub-pipeline, the conversion comes first, after the stages that must be first.
    _, union = ids_as_strings([{"$unionWith": {"pipeline": [{"$documents": [{"a": 1}]}, {"$match": {}}]}}])
    assert [next(iter(s)) for s in union["$unionWith"]["pipeline"]] == ["$documents", "$set", "$match"]


async def test_union_facet_and_graph_lookup_give_string_ids(mongo: Setup) -> None:
    datasets, runs, (root, child), made = await seed(mongo)
    unioned = await runs.aggregate([{"$unionWith": "datasets"}, {"$project": {"_id": 1}}])
    assert sorted(r["_id"] for r in unioned) == sorted([root.id, child.id, *(r.id for r in made)])
    [faceted] = await runs.aggregate(
        [
            {
                "$facet": {
                    "ids": [{"$sort": {"name": 1}}, {"$group": {"_id": None, "all": {"$push": "$_id"}}}],
                    "joined": [
                        {"$match": {"name": "r1"}},
                        {
                            "$lookup": {
                                "from": "datasets",
                                "localField": "dataset_id",
                                "foreignField": "_id",
                                "as": "d",
                            }
                        },
                    ],
                }
            }
        ]
    )
    assert faceted["ids"][0]["all"] == [made[0].id, made[1].id]
    assert faceted["joined"][0]["d"][0]["_id"] == root.id
    [chain] = await datasets.aggregate(
        [
            {"$match": {"name": "child"}},
            {
                "$graphLookup": {
                    "from": "datasets",
                    "startWith": "$name",
                    "connectFromField": "name",
                    "connectToField": "name",
                    "as": "same_name",
                }
            },
        ]
    )
    assert chain["_id"] == child.id
    assert [d["_id"] for d in chain["same_name"]] == [child.id]


async def test_an_object_id_field_joins_the_id_too(mongo: Setup) -> None:
    _, runs, (_, child), _ = await seed(mongo)
    [row] = await runs.aggregate(
        [
            {"$match": {"name": "r1"}},
            {"$lookup": {"from": "datasets", "localField": "ref", "foreignField": "_id", "as": "d"}},
        ]
    )
    assert [d["_id"] for d in row["d"]] == [child.id]
    assert row["ref"] == ObjectId(child.id)  # a value typed ObjectId stays one


async def test_pipelines_that_write_keep_object_ids(mongo: Setup) -> None:
    _, runs, (root, _), made = await seed(mongo)
    out = await runs.aggregate(
        [
            {"$lookup": {"from": "datasets", "localField": "dataset_id", "foreignField": "_id", "as": "d"}},
            {"$out": "runs_copy"},
        ]
    )
    assert out == []
    with MongoClient(mongo.url) as client:
        copied = {d["name"]: d for d in client[mongo.db_name]["runs_copy"].find()}
    assert copied["r1"]["_id"] == ObjectId(made[0].id)
    assert copied["r1"]["d"][0]["_id"] == ObjectId(root.id)
    assert "__mindtrace_id_join0" not in copied["r1"]


async def test_aggregation_datetimes_are_aware_in_utc(mongo: Setup) -> None:
    datasets = mongo.backend(Dataset)
    naive = dt.datetime(2024, 1, 2, 3, 4, 5, 6000)
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    await datasets.insert_many([Dataset(name="naive", made=naive), Dataset(name="aware", made=aware)])
    rows = await datasets.aggregate([{"$sort": {"name": 1}}, {"$project": {"_id": 0, "made": 1}}])
    assert rows == [{"made": aware.astimezone(dt.UTC)}, {"made": naive.replace(tzinfo=dt.UTC)}]
    assert all(r["made"].tzinfo is dt.UTC for r in rows)
    # Models and projection dicts follow the declaration: a plain datetime field reads back naive.
    assert [d.made for d in await datasets.find({}, sort="name")] == [
        aware.astimezone(dt.UTC).replace(tzinfo=None),
        naive,
    ]


async def test_fetch_links_travels_through_the_find_primitive(mongo: Setup) -> None:
    windows = mongo.backend(Window)
    houses = mongo.backend(House)
    small = await windows.insert(Window(width=1))
    await houses.insert(House(name="h", window=small, extra=[small]))
    mongo.log.clear()
    plain = await houses.find({"name": "h"})
    assert mongo.log.names(mongo.db_name) == ["find"]
    mongo.log.clear()
    linked = houses.find_sync({"name": "h"}, fetch_links=True)
    assert mongo.log.names(mongo.db_name) == ["aggregate"]  # Beanie's $lookup stages
    assert [h.id for h in linked] == [h.id for h in plain]
    mongo.log.clear()
    assert [h.name async for h in houses.iterate({"name": "h"})] == ["h"]
    assert mongo.log.names(mongo.db_name) == ["find"]

"""Error mapping of the MongoDB backend: exactly the documented translations, originals chained."""

from __future__ import annotations

from typing import Any

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import (
    BulkWriteError,
    DocumentTooLarge,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.core.backend import WriteOptions
from mindtrace.database.core.exceptions import (
    ConnectionFailedError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateInsertError,
    QueryError,
)
from tests.backends.mongo.conftest import Setup
from tests.backends.mongo.models import MyDoc, UserDoc


async def test_duplicate_unique_field_names_field_and_value(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    await users.insert(UserDoc(name="a", age=1, email="a@x"))
    with pytest.raises(DuplicateInsertError) as caught:
        await users.insert(UserDoc(name="b", age=2, email="a@x"))
    err = caught.value
    assert (err.field, err.value, err.collection) == ("email", "a@x", "users")
    assert isinstance(err.__cause__, DuplicateKeyError)
    assert "email = 'a@x'" in str(err) and "'users'" in str(err)
    with pytest.raises(DuplicateInsertError):
        users.insert_sync(UserDoc(name="b", age=2, email="a@x"))
    assert [u.name for u in await users.all()] == ["a"]


async def test_duplicate_id(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    first = await docs.insert(MyDoc(name="a", value=1))
    with pytest.raises(DuplicateInsertError) as caught:
        await docs.insert(MyDoc(id=first.id, name="b", value=2))
    assert (caught.value.field, caught.value.value) == ("_id", str(first.id))
    assert (await docs.get(first.id)).name == "a"


async def test_update_into_a_taken_unique_value_is_a_duplicate(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    await users.insert(UserDoc(name="a", age=1, email="a@x"))
    b = await users.insert(UserDoc(name="b", age=1, email="b@x"))
    with pytest.raises(DuplicateInsertError):
        await users.update(b.model_copy(update={"email": "a@x"}))
    with pytest.raises(DuplicateInsertError) as caught:
        users.update_many_sync({"name": "b"}, {"$set": {"email": "a@x"}})
    assert caught.value.field == "email"
    assert (await users.get(b.id)).email == "b@x"


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_insert_many_reports_stored_and_failed(mongo: Setup, api: str) -> None:
    users = mongo.backend(UserDoc)
    await users.insert(UserDoc(name="taken", age=0, email="taken@x"))
    batch = [
        UserDoc(name="ok1", age=1, email="1@x"),
        UserDoc(name="ok2", age=2, email="2@x"),
        UserDoc(name="dup", age=3, email="taken@x"),
        UserDoc(name="after", age=4, email="4@x"),
    ]
    with pytest.raises(DuplicateInsertError) as caught:
        if api == "async":
            await users.insert_many(batch)
        else:
            users.insert_many_sync(batch)
    err = caught.value
    assert (err.field, err.value) == ("email", "taken@x")
    assert isinstance(err.__cause__, BulkWriteError)
    # Ordered, as on every backend: everything before the duplicate is stored, nothing after it.
    assert err.failed == [2, 3]
    stored = {u.name: str(u.id) for u in await users.all()}
    assert sorted(stored) == ["ok1", "ok2", "taken"]
    assert err.inserted_ids == [stored["ok1"], stored["ok2"]]
    assert "(input 2)" in str(err)


async def test_duplicate_inside_one_batch(mongo: Setup) -> None:
    users = mongo.backend(UserDoc)
    with pytest.raises(DuplicateInsertError) as caught:
        await users.insert_many(
            [UserDoc(name="a", age=1, email="same@x"), UserDoc(name="b", age=1, email="same@x")]
        )
    assert caught.value.failed == [1] and len(caught.value.inserted_ids) == 1
    assert [u.name for u in await users.all()] == ["a"]


@pytest.mark.parametrize("bad_id", ["non_existent_id", "", "zz" * 12, "0" * 23, 123, None])
async def test_missing_or_malformed_id_is_not_found(mongo: Setup, bad_id: Any) -> None:
    docs = mongo.backend(MyDoc)
    for call in (docs.get, docs.delete):
        with pytest.raises(DocumentNotFoundError):
            await call(bad_id)
    for call_sync in (docs.get_sync, docs.delete_sync):
        with pytest.raises(DocumentNotFoundError):
            call_sync(bad_id)


async def test_absent_valid_id_is_not_found(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    ghost = MyDoc(name="g", value=0)
    ghost.id = "0123456789abcdef01234567"  # type: ignore[assignment]
    with pytest.raises(DocumentNotFoundError):
        await docs.get(ghost.id)
    with pytest.raises(DocumentNotFoundError):
        await docs.update(ghost)
    with pytest.raises(DocumentNotFoundError):
        docs.delete_sync(str(ghost.id))


async def test_server_query_error_carries_message_and_code(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert(MyDoc(name="a", value=1))
    with pytest.raises(QueryError) as caught:
        await docs.find({"value": {"$bogus": 1}})
    err = caught.value
    assert isinstance(err.__cause__, OperationFailure)
    assert err.code == err.__cause__.code and err.code is not None
    assert err.__cause__.details["errmsg"] in str(err)
    assert err.operator == "$bogus"

    with pytest.raises(QueryError) as caught:
        docs.aggregate_sync([{"$nosuchstage": {}}])
    assert caught.value.code == caught.value.__cause__.code  # type: ignore[union-attr]

    # update_many applies operators in the package's engine (backends.mongo.updates), which
    # words the error as the server would, with MongoDB's code (14: TypeMismatch).
    with pytest.raises(QueryError) as caught:
        await docs.update_many({}, {"$inc": {"name": 1}})  # $inc on a string
    assert (caught.value.code, caught.value.operator) == (14, "$inc")
    assert "non-numeric" in str(caught.value)


async def test_document_too_large(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    huge = MyDoc(name="x" * (17 * 1024 * 1024), value=1)
    with pytest.raises(DocumentTooLargeError) as caught:
        await docs.insert(huge)
    assert isinstance(caught.value.__cause__, DocumentTooLarge)
    with pytest.raises(DocumentTooLargeError):
        docs.insert_sync(huge)
    assert await docs.count() == 0


async def test_unencodable_values_are_not_renamed(mongo: Setup) -> None:
    docs = mongo.backend(MyDoc)
    await docs.insert(MyDoc(name="a", value=1))
    with pytest.raises(InvalidDocument):
        await docs.find({"name": object()})


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_connection_failure_names_url_without_password(mongo: Setup, api: str) -> None:
    url = "mongodb://alice:s3cret-pw@127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    backend = MongoMindtraceODMBackend(MyDoc, url, "nowhere")
    try:
        with pytest.raises(ConnectionFailedError) as caught:
            if api == "async":
                await backend.get("0123456789abcdef01234567")
            else:
                backend.get_sync("0123456789abcdef01234567")
        err = caught.value
        assert isinstance(err.__cause__, ServerSelectionTimeoutError)
        assert "s3cret-pw" not in str(err) and "s3cret-pw" not in str(err.url)
        assert err.url is not None and "alice:***@127.0.0.1:9" in err.url
        assert err.url in str(err)
    finally:
        await backend.close()


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_a_retried_insert_meeting_its_own_document_succeeds(mongo: Setup, api: str) -> None:
    """PyMongo retries an insert whose reply was lost; a server without retryable-write support
    then reports the first attempt as a duplicate _id. For an id the backend generated, that can
    only be the insert itself: it succeeds. For an id the caller chose, it stays a duplicate."""
    users = mongo.backend(UserDoc)
    await users.initialize()
    first = users._prepare_insert(UserDoc(name="a", age=1, email="a@x"))
    users._insert_docs_sync([first], WriteOptions())  # the attempt that reached the server
    again = dict(first)
    if api == "async":
        await users._insert_docs([again], WriteOptions(fresh_ids=True))
    else:
        users._insert_docs_sync([again], WriteOptions(fresh_ids=True))
    assert [u.name for u in await users.all()] == ["a"]
    with pytest.raises(DuplicateInsertError):  # the server may name _id or the unique email
        users._insert_docs_sync([dict(first)], WriteOptions())
    assert await users.count() == 1

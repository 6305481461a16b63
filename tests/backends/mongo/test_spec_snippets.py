"""The spec page's MongoDB snippets, run verbatim (only URL and database name point at the test server)."""

from __future__ import annotations

import ast
import textwrap
from typing import Any

import pytest

from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.core.exceptions import DuplicateInsertError
from tests.backends.mongo.models import UserDoc

STEP_1 = """
from mindtrace.database.backends.mongo_odm_backend import MindtraceDocument

class MyDoc(MindtraceDocument):
    name: str
    value: int

    class Settings:
        use_cache = False
"""

STEP_2 = """
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend

# Initialize backend
backend = MongoMindtraceODMBackend(
    model_cls=MyDoc,
    db_uri="mongodb://localhost:27017",
    db_name="mydb"
)

# Insert document
doc = await backend.insert(MyDoc(name="example", value=42))

# Get document by ID
retrieved_doc = await backend.get(doc.id)

# Get all documents
all_docs = await backend.all()

# Find documents with specific criteria
results = await backend.find({"name": "example"})

# Delete document
await backend.delete(doc.id)
"""

EXCEPTIONS = """
from mindtrace.database.core.exceptions import DocumentNotFoundError, DuplicateInsertError

try:
    doc = await backend.get("non_existent_id")
except DocumentNotFoundError:
    print("Document not found")

try:
    doc = await backend.insert(duplicate_doc)
except DuplicateInsertError:
    print("Document already exists")
"""

TEST_MODEL = """
class UserDoc(MindtraceDocument):
    name: str
    age: int
    email: Annotated[str, Indexed(unique=True)]

    class Settings:
        name = "users"
        use_cache = False
"""


async def run(source: str, namespace: dict[str, Any]) -> None:
    """Execute ``source`` like a notebook cell: top-level ``await`` allowed."""
    # dont_inherit: the snippets must not pick up this module's ``from __future__ import annotations``.
    code = compile(
        textwrap.dedent(source), "<spec>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    result = eval(code, namespace)
    if result is not None:
        await result


@pytest.fixture
def spec_url(mongo_test_target: Any) -> Any:
    """The snippets name mongodb://localhost:27017; point that at the test server."""

    def point(source: str) -> str:
        assert "mongodb://localhost:27017" in source
        return source.replace("mongodb://localhost:27017", mongo_test_target.url)

    return point


async def test_quick_start_runs_verbatim(spec_url: Any, mongo_test_target: Any) -> None:
    ns: dict[str, Any] = {}
    await run(STEP_1, ns)
    # The Quick Start builds MyDoc(...) before the backend has talked to the server.
    step2 = spec_url(STEP_2).replace('db_name="mydb"', f'db_name="{mongo_test_target.new_database_name()}"')
    await run(step2, ns)
    try:
        assert ns["doc"].id is not None
        assert ns["retrieved_doc"] == ns["doc"]
        assert ns["all_docs"] == [ns["doc"]]
        assert ns["results"] == [ns["doc"]]
        assert await ns["backend"].all() == []  # the final delete happened
    finally:
        await ns["backend"].close()


async def test_exception_handling_snippet(
    spec_url: Any, mongo_test_target: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = MongoMindtraceODMBackend(UserDoc, mongo_test_target.url, mongo_test_target.new_database_name())
    try:
        await backend.insert(UserDoc(name="a", age=1, email="a@x"))
        ns: dict[str, Any] = {"backend": backend, "duplicate_doc": UserDoc(name="b", age=2, email="a@x")}
        await run(EXCEPTIONS, ns)
        assert capsys.readouterr().out.splitlines() == ["Document not found", "Document already exists"]
    finally:
        await backend.close()


async def test_example_test_model_enforces_unique_email(mongo_test_target: Any) -> None:
    ns: dict[str, Any] = {}
    await run(
        "from typing import Annotated\nfrom beanie import Indexed\n"
        "from mindtrace.database.backends.mongo_odm_backend import MindtraceDocument\n" + TEST_MODEL,
        ns,
    )
    model = ns["UserDoc"]
    backend = MongoMindtraceODMBackend(model, mongo_test_target.url, mongo_test_target.new_database_name())
    try:
        await backend.insert(model(name="a", age=1, email="same@x"))
        with pytest.raises(DuplicateInsertError) as caught:
            await backend.insert(model(name="b", age=2, email="same@x"))
        assert (caught.value.field, caught.value.value) == ("email", "same@x")
    finally:
        await backend.close()


# The spec's "Writing New Tests" pattern, verbatim, with the plugin's fixture.
YourModel = UserDoc


@pytest.mark.asyncio
@pytest.mark.parametrize("mongo_backend", [YourModel], indirect=True)
async def test_your_feature(mongo_backend: Any) -> None:
    inserted = await mongo_backend.insert(YourModel(name="n", age=3, email="n@x"))
    assert await mongo_backend.get(inserted.id) == inserted
    assert mongo_backend.get_raw_model() is YourModel
    assert await mongo_backend.find(YourModel.age > 2) == [inserted]


@pytest.mark.parametrize("mongo_backend", [UserDoc], indirect=True)
async def test_fixture_database_is_fresh_per_test(mongo_backend: Any, test_db: Any) -> None:
    assert await mongo_backend.all() == []
    assert mongo_backend.db_name == test_db.name

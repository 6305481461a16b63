"""The model-schema analysis (core/schema.py): the field tree, and every fact derived from it.

Each fact is checked on the annotation kinds that differ (nested models, ``list[Model]``, unions,
``Annotated``, aliases, Enums, datetimes, dicts, recursive models, Beanie links and indexes), and
the facts that fixed behaviour are checked end to end on the Local backend (a real SQLite file).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, NewType, NotRequired, Optional

import pytest
from beanie import BackLink, Document, Indexed, Link, PydanticObjectId
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    PlainSerializer,
    RootModel,
    ValidationError,
    computed_field,
    field_serializer,
)
from pydantic.alias_generators import to_camel
from pymongo import MongoClient
from typing_extensions import TypedDict  # Pydantic refuses typing's before Python 3.12

from mindtrace.database import fields
from mindtrace.database.backends.local.model_paths import ArrayPaths
from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.backends.mongo.bson_types import CODEC_OPTIONS
from mindtrace.database.backends.mongo.document import link_fields, linked_document_classes
from mindtrace.database.core import document, schema
from mindtrace.database.core.document import ModelCodec
from mindtrace.database.core.indexes import Index, IndexSpec, index_specs
from mindtrace.database.core.input_checks import MAX_NESTING
from mindtrace.database.core.schema import (
    ANY_KEY,
    ARRAY_ITEMS,
    Kind,
    LinkTarget,
    model_schema,
    parse_annotation,
)
from mindtrace.database.testing.mongo_server import MongoTestTarget

UTC = dt.UTC
NAIVE = dt.datetime(2024, 5, 1, 12, 0)
AWARE = NAIVE.replace(tzinfo=UTC)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Shade(enum.StrEnum):
    DARK = "dark"


class Pair(enum.Enum):
    """An Enum whose values are lists: stored as arrays."""

    AB = ["a", "b"]


class Address(BaseModel):
    city: str
    zip_code: str = Field(default="", alias="zip")


class Reading(BaseModel):
    value: float
    label: str = ""


class Event(BaseModel):
    at: AwareDatetime
    logged: dt.datetime | None = None  # naive: never given a zone
    note: str = ""


class Run(BaseModel):
    """The shapes a typical tracker model holds."""

    id: str | None = None
    name: str
    color: Color = Color.RED
    shade: Shade = Shade.DARK
    score: float = 0.0
    tags: list[str] = []
    address: Address | None = None
    history: list[Address] = []
    started: AwareDatetime | None = None
    events: list[Event] = []
    stamps: list[AwareDatetime] = []
    by_stage: dict[str, Event] = {}
    params: dict[str, Any] = {}
    anything: Any = None


class Node(BaseModel):
    """Self-referencing: every fact must end on it."""

    name: str
    at: AwareDatetime | None = None
    children: list[Node] = []
    parent: Node | None = None


class Ping(BaseModel):
    pong: Pong | None = None
    n: int = 0


class Pong(BaseModel):
    ping: Ping | None = None
    color: Color = Color.RED


Ping.model_rebuild()


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (int, Kind.CLASS),
        (Color, Kind.CLASS),
        (type(None), Kind.NONE),
        (list[int], Kind.ARRAY),
        (list, Kind.ARRAY),
        (tuple[int, ...], Kind.ARRAY),
        (set[str], Kind.ARRAY),
        (dict[str, int], Kind.MAPPING),
        (dict, Kind.MAPPING),
        (Address, Kind.MODEL),
        (int | None, Kind.UNION),
        (Optional[int], Kind.UNION),  # noqa: UP045 - the old spelling is parsed too
        (Literal["a", "b"], Kind.LITERAL),
        (Any, Kind.ANY),
        (object, Kind.ANY),
        ("Later", Kind.ANY),
        (type[int], Kind.OTHER),
        (Link[Address], Kind.LINK),
    ],
    ids=repr,
)
def test_annotation_kinds(annotation: Any, kind: Kind) -> None:
    assert parse_annotation(annotation).kind is kind


def test_annotated_metadata_is_kept_and_the_type_read_through_it() -> None:
    marker = Index(unique=True)
    shape = parse_annotation(Annotated[list[Annotated[int, "inner"]], marker, "outer"])
    assert shape.kind is Kind.ARRAY and shape.metadata == (marker, "outer")
    assert shape.args[0].cls is int and shape.args[0].metadata == ("inner",)


def test_optional_and_union_alternatives() -> None:
    shape = parse_annotation(Annotated[int | None, "m"] | str)
    assert shape.optional
    assert [a.kind for a in shape.alternatives] == [Kind.CLASS, Kind.NONE, Kind.CLASS]
    assert not parse_annotation(int | str).optional


def test_new_type_is_read_as_its_supertype() -> None:
    user_id = NewType("user_id", str)
    shape = parse_annotation(user_id)
    assert shape.kind is Kind.CLASS and shape.cls is str


def test_field_tree_names_and_shapes() -> None:
    s = model_schema(Run)
    assert list(s.fields) == list(Run.model_fields)
    assert s.fields["address"].shape.optional
    assert s.fields["history"].shape.args[0].cls is Address
    assert s.fields["by_stage"].shape.kind is Kind.MAPPING
    assert model_schema(Address).fields["zip_code"].stored_name == "zip"
    assert model_schema(Address).by_stored_name["zip"].name == "zip_code"


def test_stored_names_follow_every_alias_spelling() -> None:
    class Camel(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
        first_name: str = ""
        last: str = Field(default="", alias="surname")
        shown: str = Field(default="", serialization_alias="display")

    s = model_schema(Camel)
    assert {n: f.stored_name for n, f in s.fields.items()} == {
        "first_name": "firstName",
        "last": "surname",
        "shown": "display",
    }
    dumped = Camel().model_dump(by_alias=True)
    assert set(dumped) == {f.stored_name for f in s.fields.values()}


# ----------------------------------------------------------------------------- cache
def test_schema_is_built_once_per_class() -> None:
    assert model_schema(Run) is model_schema(Run)
    assert model_schema(Run).native is model_schema(Run).native


def test_a_model_completed_later_is_analysed_again() -> None:
    class Early(BaseModel):
        later: LaterModel | None = None

    first = model_schema(Early)
    assert first.fields["later"].shape.kind is Kind.ANY  # an unresolved forward reference

    class LaterModel(BaseModel):
        x: list[int] = []

    Early.model_rebuild(_types_namespace={"LaterModel": LaterModel})
    again = model_schema(Early)
    assert again is not first
    assert again.fields["later"].value_models == (LaterModel,)
    assert model_schema(Early) is again


# ----------------------------------------------------------------------------- codec facts
def test_native_and_plain_json_of_plain_models() -> None:
    assert model_schema(Address).native
    assert model_schema(Address).plain_json_floats == ()
    assert model_schema(Reading).plain_json_floats == ("value",)


def test_enums_are_not_native_and_not_plain() -> None:
    class M(BaseModel):
        color: Color

    s = model_schema(M)
    assert not s.native and s.plain_json_floats is None and s.depth == 1
    assert not s.fields["color"].native


def test_floats_below_the_top_level_are_never_plain() -> None:
    class M(BaseModel):
        reading: Reading

    class Top(BaseModel):
        f: float
        g: Annotated[float, Field(ge=0)] | None = None

    assert model_schema(M).native and model_schema(M).plain_json_floats is None
    assert model_schema(Top).plain_json_floats == ("f", "g")


def test_dollar_keys_need_the_full_encoder() -> None:
    class M(BaseModel):
        price: int = Field(default=0, alias="$price")

    assert model_schema(M).native and model_schema(M).plain_json_floats is None


@pytest.mark.parametrize(
    ("annotation", "native", "plain"),
    [
        (str, True, True),
        (dt.datetime, False, False),
        (dt.date, True, True),
        (Decimal, True, True),
        (uuid.UUID, True, False),
        (PydanticObjectId, True, True),
        (list[int], True, True),
        (list[list[str]], True, True),
        (tuple[int, ...], False, False),
        (set[str], False, False),
        (dict[str, int], True, False),
        (dict[int, str], False, False),
        (Literal["a", 1, None], True, True),
        (Literal[1.5], False, False),
        (Shade, False, False),
        (Any, False, False),
        pytest.param(Annotated[int, PlainSerializer(lambda v: (v,))], False, False, id="serializer"),
    ],
    ids=repr,
)
def test_native_and_plain_per_annotation(annotation: Any, native: bool, plain: bool) -> None:
    class M(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        x: annotation

    s = model_schema(M)
    assert (s.native, s.plain_json_floats == ()) == (native, plain)


@pytest.mark.parametrize("which", ["extra", "field_serializer", "computed_field"])
def test_custom_dumps_are_opaque(which: str) -> None:
    if which == "extra":

        class M(BaseModel):
            model_config = ConfigDict(extra="allow")
            a: int = 0

    elif which == "field_serializer":

        class M(BaseModel):  # type: ignore[no-redef]
            a: int = 0

            @field_serializer("a")
            def _a(self, v: int) -> int:
                return v

    else:

        class M(BaseModel):  # type: ignore[no-redef]
            a: int = 0

            @computed_field  # type: ignore[prop-decorator]
            @property
            def b(self) -> int:
                return self.a

    s = model_schema(M)
    assert s.opaque_dump and not s.native and s.plain_json_floats is None and s.depth is None


def test_depth_bounds() -> None:
    class Deep(BaseModel):
        grid: list[list[int]] = []
        runs: list[Reading] = []

    assert model_schema(Address).depth == 1
    assert model_schema(Deep).depth == 3  # the document, the outer list, the inner list
    assert model_schema(Deep).fields["grid"].depth == 2
    assert model_schema(Run).depth is None  # dict fields: keys are data, every dump is checked
    assert model_schema(Run).fields["by_stage"].depth is None
    assert model_schema(Node).depth is None  # recursive: no static bound


def test_codec_flags_come_from_the_schema() -> None:
    for model in (Address, Reading, Run, Node, Ping):
        codec = ModelCodec(model)
        s = model_schema(model)
        assert codec._native is s.native
        assert codec.plain_json_floats == s.plain_json_floats
        assert codec._depth_bounded is (s.depth is not None and s.depth <= MAX_NESTING)


def test_string_form_classes_match_the_codec() -> None:
    # schema keeps its own copy (core.document imports schema, not the other way round)
    assert document._AS_STRING is schema.STRING_FORM


# ----------------------------------------------------------------------------- recursive models
def test_recursive_models_end() -> None:
    for model in (Node, Ping, Pong):
        s = model_schema(model)
        assert s.depth is None
    assert not model_schema(Node).native  # AwareDatetime is not one of the exact native classes

    class Chain(BaseModel):
        label: str
        next: Chain | None = None
        branches: list[Chain] = []

    Chain.model_rebuild(_types_namespace={"Chain": Chain})
    assert model_schema(Chain).native and model_schema(Chain).plain_json_floats == ()
    # Ping reaches Pong's Enum through the cycle; Pong reaches it directly.
    assert not model_schema(Ping).native and not model_schema(Pong).native
    assert model_schema(Node).fields["children"].value_models == (Node,)
    paths = ArrayPaths(Node)
    assert paths.may_be_array("children") and paths.may_be_array("children.name")
    assert not paths.may_be_array("parent.parent.parent.name")
    assert paths.may_be_array("parent.parent.children.name")


def test_a_recursive_model_met_after_its_cycle_was_cached_keeps_its_answer() -> None:
    # Pong's answer computed inside Ping's cycle must not be mistaken for Pong's own.
    class A(BaseModel):
        b: B | None = None
        color: Color = Color.RED

    class B(BaseModel):
        a: A | None = None

    A.model_rebuild(_types_namespace={"B": B})
    assert not model_schema(A).native
    assert not model_schema(B).native  # B holds an A, whose dump holds an Enum


# ----------------------------------------------------------------------------- arrays
@pytest.mark.parametrize(
    ("path", "may_be_array"),
    [
        ("name", False),
        ("color", False),
        ("score", False),
        ("tags", True),
        ("address", False),
        ("address.city", False),
        ("zip", True),  # no such top-level key: unknown
        ("address.zip", False),
        ("address.zip_code", True),  # stored names only
        ("address.nope", True),
        ("history", True),
        ("history.city", True),
        ("events.at", True),
        ("by_stage", False),
        ("by_stage.train", False),
        ("by_stage.train.at", False),
        ("by_stage.train.nope", True),
        ("params", False),
        ("params.x", True),
        ("anything", True),
        ("name.x", False),  # a scalar has no sub-paths: the path is missing, not an array
        ("nope", True),
    ],
)
def test_may_be_array(path: str, may_be_array: bool) -> None:
    assert model_schema(Run).may_be_array(path) is may_be_array
    assert ArrayPaths(Run).may_be_array(path) is may_be_array


def test_arrays_in_unions_literals_and_enums() -> None:
    class M(BaseModel):
        one_or_many: int | list[int] = 0
        maybe: Address | None = None
        lit: Literal["a", "b"] = "a"
        pair: Pair | None = None
        shade: Shade = Shade.DARK

    s = model_schema(M)
    assert s.may_be_array("one_or_many")
    assert not s.may_be_array("maybe.city")
    assert not s.may_be_array("lit")
    assert s.may_be_array("pair")
    assert not s.may_be_array("shade")
    assert s.fields["one_or_many"].array is True and s.fields["shade"].array is False


def test_a_root_model_stands_for_its_root_value() -> None:
    class Tags(RootModel[list[str]]):
        pass

    class Where(RootModel[Address]):
        pass

    class M(BaseModel):
        tags: Tags
        where: Where | None = None

    s = model_schema(M)
    assert s.may_be_array("tags")
    assert not s.may_be_array("where.city")
    assert s.fields["tags"].value_models == ()
    assert s.fields["where"].value_models == (Address,)
    assert s.depth == 2  # the document and the list, no extra level for the root model


def test_recursive_root_model_ends() -> None:
    class Tree(RootModel[list["Tree"]]):
        pass

    class M(BaseModel):
        tree: Tree

    s = model_schema(M)
    assert s.may_be_array("tree")
    assert s.fields["tree"].value_models == ()
    assert s.depth is None


# ----------------------------------------------------------------------------- field paths
def test_value_models_for_field_paths() -> None:
    s = model_schema(Run)
    assert s.fields["address"].value_models == (Address,)
    assert s.fields["history"].value_models == (Address,)
    assert s.fields["tags"].value_models == ()
    assert s.fields["by_stage"].value_models is None
    assert s.fields["anything"].value_models is None
    assert str(fields(Run).history.zip_code) == "history.zip"
    with pytest.raises(AttributeError, match="scalar"):
        _ = fields(Run).tags.x


# ----------------------------------------------------------------------------- aware datetimes
def test_aware_paths_include_sub_models_lists_and_dicts() -> None:
    assert model_schema(Run).aware_paths == (
        "started",
        f"events.{ARRAY_ITEMS}.at",
        f"stamps.{ARRAY_ITEMS}",
        f"by_stage.{ANY_KEY}.at",
    )
    assert model_schema(Address).aware is None and model_schema(Address).aware_paths == ()


def test_attach_utc_restores_every_declared_aware_value_and_nothing_else() -> None:
    doc: dict[str, Any] = {
        "_id": "x",
        "name": "r",
        "started": NAIVE,
        "events": [{"at": NAIVE, "logged": NAIVE}, {"at": AWARE, "logged": None}],
        "stamps": [NAIVE, NAIVE],
        "by_stage": {"train": {"at": NAIVE, "logged": NAIVE}},
        "params": {"when": NAIVE},
        "anything": NAIVE,
    }
    model_schema(Run).attach_utc(doc)
    assert doc["started"] == AWARE and doc["started"].tzinfo is UTC
    assert [e["at"].tzinfo for e in doc["events"]] == [UTC, UTC]
    assert doc["events"][0]["logged"].tzinfo is None
    assert [s.tzinfo for s in doc["stamps"]] == [UTC, UTC]
    assert doc["by_stage"]["train"]["at"].tzinfo is UTC
    assert doc["by_stage"]["train"]["logged"].tzinfo is None
    assert doc["params"]["when"].tzinfo is None and doc["anything"].tzinfo is None
    Run.model_validate({**doc, "id": doc.pop("_id")})  # now acceptable to the model


def test_attach_utc_keeps_an_offset_it_finds_and_ignores_unexpected_shapes() -> None:
    offset = dt.timezone(dt.timedelta(hours=2))
    doc: dict[str, Any] = {"started": NAIVE.replace(tzinfo=offset), "events": "not a list", "stamps": None}
    model_schema(Run).attach_utc(doc)
    assert doc == {"started": NAIVE.replace(tzinfo=offset), "events": "not a list", "stamps": None}


def test_attach_utc_follows_recursive_models() -> None:
    doc: dict[str, Any] = {
        "name": "root",
        "at": NAIVE,
        "children": [{"name": "a", "at": NAIVE, "children": [{"name": "b", "at": NAIVE}]}],
        "parent": {"name": "p", "at": NAIVE, "parent": {"name": "pp", "at": NAIVE}},
    }
    s = model_schema(Node)
    assert s.aware_paths == ("at",)  # listed once; attach_utc follows the recursion
    s.attach_utc(doc)
    assert doc["children"][0]["children"][0]["at"].tzinfo is UTC
    assert doc["parent"]["parent"]["at"].tzinfo is UTC
    assert Node.model_validate(doc).children[0].children[0].at == AWARE


def test_aware_values_in_unions_of_models() -> None:
    class Other(BaseModel):
        when: AwareDatetime

    class M(BaseModel):
        item: Event | Other | None = None
        moment: AwareDatetime | list[AwareDatetime] | None = None

    s = model_schema(M)
    assert set(s.aware_paths) == {"item.at", "item.when", "moment", f"moment.{ARRAY_ITEMS}"}
    doc: dict[str, Any] = {"item": {"when": NAIVE}, "moment": [NAIVE]}
    s.attach_utc(doc)
    assert doc == {"item": {"when": AWARE}, "moment": [AWARE]}


def test_aware_in_a_root_model() -> None:
    class Stamps(RootModel[list[AwareDatetime]]):
        pass

    class M(BaseModel):
        stamps: Stamps

    s = model_schema(M)
    assert s.aware_paths == (f"stamps.{ARRAY_ITEMS}",)
    doc: dict[str, Any] = {"stamps": [NAIVE]}
    assert s.attach_utc(doc) == {"stamps": [AWARE]}


@dataclasses.dataclass
class Slot:
    start: AwareDatetime
    seen: dt.datetime | None = None
    later: list[Slot] = dataclasses.field(default_factory=list)  # recursive


class Booking(TypedDict):
    at: NotRequired[AwareDatetime]
    seen: dt.datetime


class Calendar(BaseModel):
    slots: list[Slot] = []
    bookings: dict[str, Booking] = {}


def test_aware_values_in_dataclasses_and_typed_dicts() -> None:
    s = model_schema(Calendar)
    assert s.aware_paths == (f"slots.{ARRAY_ITEMS}.start", f"bookings.{ANY_KEY}.at")
    doc: dict[str, Any] = {
        "slots": [{"start": NAIVE, "seen": NAIVE, "later": [{"start": NAIVE, "later": []}]}],
        "bookings": {"a": {"at": NAIVE, "seen": NAIVE}, "b": {"seen": NAIVE}},
    }
    s.attach_utc(doc)
    assert doc == {
        "slots": [{"start": AWARE, "seen": NAIVE, "later": [{"start": AWARE, "later": []}]}],
        "bookings": {"a": {"at": AWARE, "seen": NAIVE}, "b": {"seen": NAIVE}},
    }
    assert doc["slots"][0]["seen"].tzinfo is None and doc["bookings"]["a"]["seen"].tzinfo is None
    Calendar.model_validate(doc)


class Moment(enum.Enum):
    EPOCH = dt.datetime(1970, 1, 1)


class Opaque:
    """A class the analysis does not know: its values may dump to anything."""


@dataclasses.dataclass
class Unresolved:
    later: Missing  # type: ignore[name-defined]  # noqa: F821 - never resolvable


@pytest.mark.parametrize(
    ("annotation", "may_hold"),
    [
        (str, False),
        (int | None, False),
        (list[str], False),
        (dict[str, float], False),
        (tuple[int, ...], False),
        (Literal["a", 1], False),
        (Color, False),
        (dt.date, False),
        (dt.time, False),
        (uuid.UUID, False),
        (PydanticObjectId, False),
        (Address, False),
        (list[Address], False),
        (dt.datetime, True),
        (AwareDatetime, True),
        (NaiveDatetime, True),
        (list[dt.datetime], True),
        (dict[str, Event], True),
        (Slot, True),
        (Booking, True),
        (Moment, True),
        (Any, True),
        (list, True),
        (dict, True),
        (Opaque, True),
        (Unresolved, True),
        (Annotated[int, PlainSerializer(lambda v: dt.datetime(2024, 1, 1))], True),
        ("NotDefinedAnywhere", True),
    ],
)
def test_may_hold_datetimes(annotation: Any, may_hold: bool) -> None:
    class M(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)
        x: annotation  # type: ignore[valid-type]

    assert model_schema(M).may_hold_datetimes is may_hold


def test_opaque_dumps_may_hold_datetimes() -> None:
    class Extra(BaseModel):
        model_config = ConfigDict(extra="allow")
        n: int = 0

    class Computed(BaseModel):
        n: int = 0

        @computed_field  # type: ignore[prop-decorator]
        @property
        def when(self) -> dt.datetime:
            return NAIVE

    assert Extra(n=1, at=NAIVE).model_dump() == {"n": 1, "at": NAIVE}
    assert model_schema(Extra).may_hold_datetimes and model_schema(Computed).may_hold_datetimes
    assert not model_schema(Ping).may_hold_datetimes  # recursive, without datetimes: ends


def test_to_utc_instants_gives_what_a_read_gives() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    fine = dt.datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=paris)  # 12:00:00.123456 UTC
    utc_ms = dt.datetime(2024, 5, 1, 12, 0, 0, 123000)
    doc: dict[str, Any] = {
        "name": "r",
        "started": fine,
        "events": [{"at": fine, "logged": fine}, {"at": AWARE, "logged": NAIVE}],
        "stamps": [fine],
        "by_stage": {"train": {"at": fine, "logged": None}},
        "params": {"when": fine, "deep": [{"x": fine}]},
        "anything": fine,
    }
    s = model_schema(Run)
    assert s.to_utc_instants(doc) is doc
    assert doc == {
        "name": "r",
        "started": utc_ms.replace(tzinfo=UTC),
        "events": [{"at": utc_ms.replace(tzinfo=UTC), "logged": utc_ms}, {"at": AWARE, "logged": NAIVE}],
        "stamps": [utc_ms.replace(tzinfo=UTC)],
        "by_stage": {"train": {"at": utc_ms.replace(tzinfo=UTC), "logged": None}},
        "params": {"when": utc_ms, "deep": [{"x": utc_ms}]},
        "anything": utc_ms,
    }
    # Aware exactly where the model declares it, in UTC; naive UTC everywhere else.
    assert doc["started"].tzinfo is UTC and doc["events"][0]["at"].tzinfo is UTC
    assert doc["events"][0]["logged"].tzinfo is None and doc["params"]["deep"][0]["x"].tzinfo is None
    assert doc["anything"].tzinfo is None


def test_to_utc_instants_leaves_models_without_datetimes_alone() -> None:
    doc: dict[str, Any] = {"city": "x", "zip": "1"}
    assert not model_schema(Address).may_hold_datetimes
    assert model_schema(Address).to_utc_instants(doc) == {"city": "x", "zip": "1"}


# ----------------------------------------------------------------------------- Beanie
class Owner(Document):
    name: str = ""
    joined: AwareDatetime | None = None


class Pet(Document):
    owner: Link[Owner]
    vets: list[Link[Owner]] = []
    previous: Optional[Link[Owner]] = None  # noqa: UP045 - Beanie's own spelling
    walker: Link[Owner] | None = Field(default=None, alias="walkedBy")
    friends: BackLink[Owner] = Field(default=None, json_schema_extra={"original_field": "pets"})  # type: ignore[arg-type]
    name: str = ""
    email: Indexed(str, unique=True) = ""  # type: ignore[valid-type]
    age: Optional[Indexed(int)] = None  # type: ignore[valid-type]  # noqa: UP045
    nick: Annotated[str, Indexed()] = ""
    code: Annotated[str, Index(unique=True, name="by_code")] = ""


def test_link_fields() -> None:
    s = model_schema(Pet)
    assert dict(s.links) == {
        "owner": LinkTarget(back=False, target=Owner),
        "vets": LinkTarget(back=False, target=Owner),
        "previous": LinkTarget(back=False, target=Owner),
        "walker": LinkTarget(back=False, target=Owner),
        "friends": LinkTarget(back=True, target=Owner),
    }
    assert s.fields["walker"].stored_name == "walkedBy"
    assert s.fields["name"].link is None
    assert model_schema(Owner).links == {}


def test_the_mongo_backends_link_helpers_read_the_schema() -> None:
    assert link_fields(Pet) == {
        "owner": ("owner", False),
        "vets": ("vets", False),
        "previous": ("previous", False),
        "walker": ("walkedBy", False),
        "friends": ("friends", True),
    }
    assert link_fields(Owner) == {}
    assert linked_document_classes(Pet) == [Pet, Owner]
    assert linked_document_classes(Address) == []  # not a Beanie document


def test_a_linked_document_decides_whether_a_link_may_hold_datetimes() -> None:
    class Plain(Document):
        name: str = ""

    class Links(Document):
        plain: Link[Plain]
        owners: list[Link[Owner]] = []

    assert not model_schema(Plain).may_hold_datetimes
    assert model_schema(Links).may_hold_datetimes  # a fetched Owner holds one
    assert model_schema(Pet).may_hold_datetimes


def test_a_link_to_a_forward_reference_is_not_a_link() -> None:
    shape = parse_annotation(Link["Owner"])
    assert shape.kind is Kind.LINK and shape.args[0].kind is Kind.ANY
    assert schema._link(shape) is None


def test_fetched_links_get_their_aware_values_back() -> None:
    s = model_schema(Pet)
    assert "owner.joined" in s.aware_paths and f"vets.{ARRAY_ITEMS}.joined" in s.aware_paths
    doc: dict[str, Any] = {"owner": {"_id": "x", "joined": NAIVE}, "vets": [{"joined": NAIVE}]}
    s.attach_utc(doc)
    assert doc["owner"]["joined"] == AWARE and doc["vets"][0]["joined"] == AWARE


def test_index_annotations() -> None:
    s = model_schema(Pet)
    assert s.fields["email"].beanie_index == (1, {"unique": True})
    assert s.fields["age"].beanie_index == (1, {})
    assert s.fields["nick"].beanie_index == (1, {})
    assert s.fields["name"].beanie_index is None
    assert any(isinstance(m, Index) for m in s.fields["code"].metadata)
    by_paths = {spec.paths: spec for spec in index_specs(Pet)}
    assert by_paths[("email",)] == IndexSpec((("email", 1),), True, "email_1")
    assert by_paths[("age",)].unique is False
    assert by_paths[("code",)].name == "by_code" and by_paths[("code",)].unique


def test_index_on_an_aliased_field_uses_the_stored_name() -> None:
    class M(BaseModel):
        email: Annotated[str, Index()] = Field(default="", alias="mail")

    assert [s.fields for s in index_specs(M)] == [(("mail", 1),)]


# ----------------------------------------------------------------------------- end to end
def test_root_model_arrays_are_found_by_queries_on_local() -> None:
    # Before the schema, a RootModel field counted as "never an array", so the SQL condition
    # alone decided and {"tags": "x"} matched nothing.
    class Tags(RootModel[list[str]]):
        pass

    class Post(BaseModel):
        id: str | None = None
        tags: Tags

    with LocalODMBackend(Post, ":memory:") as posts:
        stored = posts.insert_sync(Post(tags=Tags(["x", "y"])))
        posts.insert_sync(Post(tags=Tags(["z"])))
        assert [p.id for p in posts.find_sync({"tags": "x"})] == [stored.id]
        assert posts.count_sync({"tags": {"$in": ["y", "z"]}}) == 2


def test_a_custom_serializer_keeps_the_typed_json_pass_on_local() -> None:
    # Before the schema, a Decimal field counted as plain JSON whatever its serializer returned:
    # a NaN float was written as JSON null and the document no longer validated.
    class Price(BaseModel):
        id: str | None = None
        amount: Annotated[Decimal, Field(allow_inf_nan=True), PlainSerializer(float, return_type=float)]

    assert model_schema(Price).plain_json_floats is None
    with LocalODMBackend(Price, ":memory:") as prices:
        stored = prices.insert_sync(Price(amount=Decimal("NaN")))
        assert stored.id is not None
        assert prices.get_sync(stored.id).amount.is_nan()


def test_a_serializer_on_a_union_hides_its_alternatives() -> None:
    class M(BaseModel):
        x: Annotated[int | None, PlainSerializer(lambda v: [v])] = None

    s = model_schema(M)
    assert M(x=1).model_dump() == {"x": [1]}
    assert s.may_be_array("x") and not s.native and s.depth is None and s.plain_json_floats is None


def test_attach_utc_makes_documents_read_from_mongodb_valid(mongo_test_target: MongoTestTarget) -> None:
    # What the MongoDB backend reads: BSON datetimes come back naive (UTC), and Pydantic refuses a
    # naive value for AwareDatetime wherever it sits. attach_utc on the decoded document fixes it.
    paris = dt.timezone(dt.timedelta(hours=2))
    run = Run(
        name="r",
        started=AWARE,
        events=[Event(at=NAIVE.replace(tzinfo=paris), logged=NAIVE)],
        stamps=[AWARE, AWARE + dt.timedelta(seconds=1)],
        by_stage={"train": Event(at=AWARE)},
    )
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_test_target.url)
    name = mongo_test_target.new_database_name()
    try:
        collection = client[name].get_collection("runs", codec_options=CODEC_OPTIONS)
        collection.insert_one(run.model_dump(mode="python", by_alias=True, exclude={"id"}))
        stored = collection.find_one({}, {"_id": 0})
        assert stored is not None and stored["events"][0]["at"].tzinfo is None
        with pytest.raises(ValidationError, match="timezone"):
            Run.model_validate(stored)
        back = Run.model_validate(model_schema(Run).attach_utc(stored))
    finally:
        client.drop_database(name)
        client.close()
    assert back == run  # the same instants (an offset is not kept by BSON: they compare equal in UTC)
    assert back.events[0].logged == NAIVE


def test_to_utc_instants_is_what_mongodb_gives_back(mongo_test_target: MongoTestTarget) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    fine = dt.datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=paris)
    doc: dict[str, Any] = {
        "name": "r",
        "started": fine,
        "events": [{"at": fine, "logged": fine}, {"at": fine, "logged": NAIVE}],
        "stamps": [fine, AWARE],
        "by_stage": {"train": {"at": fine}},
        "params": {"when": fine, "deep": [{"x": fine}]},
        "anything": NAIVE,
    }
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_test_target.url)
    name = mongo_test_target.new_database_name()
    try:
        collection = client[name].get_collection("runs", codec_options=CODEC_OPTIONS)
        collection.insert_one(copy.deepcopy(doc))
        stored = collection.find_one({}, {"_id": 0})
    finally:
        client.drop_database(name)
        client.close()
    assert stored is not None
    s = model_schema(Run)
    read = s.attach_utc(stored)
    written = s.to_utc_instants(doc)
    assert written == read
    # Equal instants are not enough: awareness must match value by value.
    assert repr(written) == repr(read)

"""The exact-type storage codec: every supported value comes back with its exact type."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from bson import Binary, Decimal128, ObjectId
from hypothesis import given
from hypothesis import strategies as st

from mindtrace.database.core import typed_json

BERLIN = ZoneInfo("Europe/Berlin")


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (and the same tzinfo and fold for datetimes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dt.datetime):
        # fold only means something for zones with DST (ZoneInfo); Python ignores it elsewhere.
        zoned = isinstance(a.tzinfo, ZoneInfo)
        return (
            a.replace(tzinfo=None, fold=0) == b.replace(tzinfo=None, fold=0)
            and a.utcoffset() == b.utcoffset()
            and (not zoned or (a.tzinfo == b.tzinfo and a.fold == b.fold))
        )
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, Binary):
        return bytes(a) == bytes(b) and a.subtype == b.subtype
    return bool(a == b)


VALUES: list[Any] = [
    "text",
    "",
    'with "quotes" and \\ and \u00e9\u4e2d\U0001f600',
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    2**64,
    -(2**64),
    10**40,
    1.5,
    -0.0,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
    dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC),
    dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    dt.datetime(2024, 7, 1, 12, tzinfo=BERLIN),
    dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN),  # second 02:30 of the DST change
    dt.datetime(2024, 3, 31, 2, 30, tzinfo=BERLIN),  # inside the DST gap: no such wall time
    dt.date(2020, 2, 29),
    dt.time(12, 30, 1, 5),
    dt.time(12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.timedelta(days=-2, seconds=5, microseconds=7),
    Decimal("1.10"),
    Decimal("-0"),
    Decimal("NaN"),
    Decimal("1E+400"),
    Decimal128("12.500"),
    uuid.UUID("6f1c2d9e-1111-4c3b-9a8e-0123456789ab"),
    b"",
    b"\x00\xff binary",
    Binary(b"\x01\x02", 5),
    ObjectId("65f0c3aa0000000000000000"),
    [1, "a", None, [2.5, {"x": dt.date(2000, 1, 1)}]],
    {"nested": {"deeper": [uuid.UUID(int=1), {"$not_a_tag": 1}]}},
    {"$date": "looks like a tag"},
    {"$$already": "escaped", "$": 1, "plain": 2},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_value_round_trips_exactly(value: Any) -> None:
    doc = {"_id": "x", "v": value, "in_list": [value], "in_dict": {"k": value}}
    back = typed_json.loads(typed_json.dumps(doc))
    assert same(back, doc)
    assert same(typed_json.loads(typed_json.dumps_text(doc)), doc)


def test_containers_become_lists_and_keys_strings() -> None:
    back = typed_json.loads(typed_json.dumps({"t": (1, 2), "s": {3}, "k": {1: "a", None: "b"}}))
    assert back == {"t": [1, 2], "s": [3], "k": {"1": "a", "null": "b"}}


def test_plain_documents_are_plain_json() -> None:
    doc = {"a": 1, "b": [1.5, "x", None, True], "c": {"d": "e"}}
    assert not typed_json.needs_tagging(doc)
    assert typed_json.dumps(doc) == orjson.dumps(doc)


def test_user_keys_starting_with_dollar_are_escaped_not_tags() -> None:
    text = typed_json.dumps_text({"$date": "2024"})
    assert text == '{"$$date":"2024"}'
    assert typed_json.loads(text) == {"$date": "2024"}


def test_unknown_tag_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$nope"):
        typed_json.loads('{"a":{"$nope":1}}')


def test_unsupported_type_names_it() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="Opaque"):
        typed_json.dumps({"a": Opaque()})


def test_date_text_sorts_chronologically_across_offsets() -> None:
    values = [
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=14))),  # 2023-12-31T22:00Z
        dt.datetime(2023, 12, 31, 23, 0),  # naive: UTC
        dt.date(2024, 1, 1),  # midnight UTC
        dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=-1))),  # 01:30Z
        dt.datetime(999, 5, 5),
    ]
    texts = [typed_json.value_text(v) for v in values]
    assert all(t.startswith(typed_json.DATE_PREFIX) for t in texts)
    by_text = [v for _, v in sorted(zip(texts, values, strict=True))]
    by_instant = sorted(values, key=typed_json.date_key)
    assert by_text == by_instant
    assert by_text[0] == dt.datetime(999, 5, 5)


def test_value_text_is_what_documents_hold() -> None:
    for value in [uuid.UUID(int=5), ObjectId(), b"ab", Decimal("2.50"), dt.date(2020, 1, 1)]:
        assert f'"v":{typed_json.value_text(value)}' in typed_json.dumps_text({"v": value})
    assert typed_json.value_text(Decimal("2.5")).startswith(typed_json.NUMBER_TAG_PREFIX)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.decimals(allow_nan=False),
    st.uuids(),
    st.binary(max_size=20),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
)
documents = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), documents, max_size=5))
def test_any_document_round_trips(doc: dict[str, Any]) -> None:
    assert same(typed_json.loads(typed_json.dumps(doc)), doc)

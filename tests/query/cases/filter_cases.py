"""Filter cases: documents, a filter, and the ``_id`` values MongoDB returns (or the error).

Every expectation comes from MongoDB's documentation (the operator pages, "Query an Array",
"Query an Array of Embedded Documents", "Query on Embedded/Nested Documents", "Query for Null
or Missing Fields", "Comparison/Sort Order") or from the MongoDB server's own behaviour tests
(``jstests/core/null_query_semantics.js``); the comment above each group names the source.
Values are restricted to what PyMongo can encode (no ``decimal.Decimal``, ``datetime.date`` or
``uuid.UUID``), so the Mongo backend can replay the table against a real server.
"""

from __future__ import annotations

import datetime as dt
import re

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

from mindtrace.database.core.exceptions import QueryError
from tests.query.cases import FilterCase

_UTC = dt.UTC
_PLUS2 = dt.timezone(dt.timedelta(hours=2))

# --- Manual: "Query Documents", "Query an Array", "Query on Embedded/Nested Documents" ---------
INVENTORY = [
    {"_id": 1, "item": "journal", "qty": 25, "tags": ["blank", "red"], "dim_cm": [14, 21],
     "size": {"h": 14, "w": 21, "uom": "cm"}, "status": "A"},
    {"_id": 2, "item": "notebook", "qty": 50, "tags": ["red", "blank"], "dim_cm": [14, 21],
     "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "A"},
    {"_id": 3, "item": "paper", "qty": 100, "tags": ["red", "blank", "plain"], "dim_cm": [14, 21],
     "size": {"h": 8.5, "w": 11, "uom": "in"}, "status": "D"},
    {"_id": 4, "item": "planner", "qty": 75, "tags": ["blank", "red"], "dim_cm": [22.85, 30],
     "size": {"h": 22.85, "w": 30, "uom": "cm"}, "status": "D"},
    {"_id": 5, "item": "postcard", "qty": 45, "tags": ["blue"], "dim_cm": [10, 15.25],
     "size": {"h": 10, "w": 15.25, "uom": "cm"}, "status": "A"},
]  # fmt: skip

# --- Manual: "Query an Array of Embedded Documents" ----------------------------------------------
INSTOCK = [
    {"_id": 1, "item": "journal", "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}]},
    {"_id": 2, "item": "notebook", "instock": [{"warehouse": "C", "qty": 5}]},
    {"_id": 3, "item": "paper", "instock": [{"warehouse": "A", "qty": 60}, {"warehouse": "B", "qty": 15}]},
    {"_id": 4, "item": "planner", "instock": [{"warehouse": "A", "qty": 40}, {"warehouse": "B", "qty": 5}]},
    {"_id": 5, "item": "postcard", "instock": [{"warehouse": "B", "qty": 15}, {"warehouse": "C", "qty": 35}]},
]

# --- MongoDB server test jstests/core/null_query_semantics.js (without the deprecated undefined) --
NULLS = [
    {"_id": 1, "a": {}},  # a_empty_subobject
    {"_id": 2, "a": None},  # a_null
    {"_id": 3, "a": 4},  # a_number
    {"_id": 4, "a": {"b": "hi"}},  # a_subobject_b_not_null
    {"_id": 5, "a": {"b": None}},  # a_subobject_b_null
    {"_id": 6},  # no_a
    {"_id": 7, "a": [[]]},  # a_double_array
    {"_id": 8, "a": []},  # a_empty_array
    {"_id": 9, "a": [{"b": None}, {"b": None}, {}]},  # a_object_array_all_b_nulls
    {"_id": 10, "a": [{"b": 1}, {"b": 3}, {"b": "string"}]},  # a_object_array_no_b_nulls
    {"_id": 11, "a": [{"b": None}, {"b": 3}, {"b": None}]},  # a_object_array_some_b_nulls
    {"_id": 12, "a": [{"b": 3}, {}]},  # a_object_array_some_b_missing
    {"_id": 13, "a": [None, None]},  # a_value_array_all_nulls
    {"_id": 14, "a": [1, "string", 4]},  # a_value_array_no_nulls
    {"_id": 15, "a": [1, "string", None, 4]},  # a_value_array_with_null
]
NULLS_NO_ARRAYS = [doc for doc in NULLS if doc["_id"] <= 6]

# --- Manual: $eq page (Equals an Array Value, Regex Match Behavior) ------------------------------
EQ_INVENTORY = [
    {"_id": 1, "item": {"name": "ab", "code": "123"}, "qty": 15, "tags": ["A", "B", "C"]},
    {"_id": 2, "item": {"name": "cd", "code": "123"}, "qty": 20, "tags": ["B"]},
    {"_id": 3, "item": {"name": "ij", "code": "456"}, "qty": 25, "tags": ["A", "B"]},
    {"_id": 4, "item": {"name": "xy", "code": "456"}, "qty": 30, "tags": ["B", "A"]},
    {"_id": 5, "item": {"name": "mn", "code": "000"}, "qty": 20, "tags": [["A", "B"], "C"]},
]
COMPANIES = [
    {"_id": 1, "company": "MongoDB"},
    {"_id": 2, "company": "MongoDB2"},
    {"_id": 3, "company": Regex("MongoDB")},
]

# --- Comparison/Sort Order: type bracketing, numbers across types, dates, ObjectId ---------------
MIXED = [
    {"_id": 1, "x": 5},
    {"_id": 2, "x": "5"},
    {"_id": 3, "x": 10.5},
    {"_id": 4, "x": None},
    {"_id": 5},
    {"_id": 6, "x": True},
    {"_id": 7, "x": [1, 7]},
    {"_id": 8, "x": Decimal128("6")},
    {"_id": 9, "x": {"y": 5}},
]
MIXED_PRESENT = [doc for doc in MIXED if "x" in doc]
NUMBERS = [
    {"_id": 1, "x": 6},
    {"_id": 2, "x": 6.0},
    {"_id": 3, "x": Decimal128("6.0")},
    {"_id": 4, "x": Decimal128("6.5")},
    {"_id": 5, "x": Int64(6)},
    {"_id": 6, "x": "6"},
    {"_id": 7, "x": float("nan")},
    {"_id": 8, "x": -1},
]
DATES = [
    {"_id": 1, "d": dt.datetime(2020, 1, 1)},  # naive datetimes are UTC
    {"_id": 2, "d": dt.datetime(2021, 6, 1, tzinfo=_UTC)},
    {"_id": 3, "d": "2021-06-01"},
    {"_id": 4, "d": dt.datetime(2022, 1, 1, 12)},
]
OID_1 = ObjectId("5f0000000000000000000001")
OID_2 = ObjectId("5f0000000000000000000002")
OIDS = [
    {"_id": 1, "ref": OID_1},
    {"_id": 2, "ref": OID_2},
    {"_id": 3, "ref": "5f0000000000000000000001"},
]
NESTED = [
    {"_id": 1, "a": {"b": 1, "c": 2}},
    {"_id": 2, "a": {"c": 2, "b": 1}},
    {"_id": 3, "a": {"b": 1, "c": 2, "d": 3}},
    {"_id": 4, "a": [{"b": 1, "c": 2}]},
    {"_id": 5, "a": {"b": 1.0, "c": 2}},
]

# --- $type page: aliases, numeric codes, "number", arrays ------------------------------------------
TYPES = [
    {"_id": 1, "v": 1},
    {"_id": 2, "v": 2**40},
    {"_id": 3, "v": 1.5},
    {"_id": 4, "v": Decimal128("1.5")},
    {"_id": 5, "v": "s"},
    {"_id": 6, "v": {"a": 1}},
    {"_id": 7, "v": [1, "s"]},
    {"_id": 8, "v": None},
    {"_id": 9, "v": True},
    {"_id": 10, "v": dt.datetime(2020, 1, 1)},
    {"_id": 11, "v": OID_1},
    {"_id": 12, "v": Binary(b"bin")},
    {"_id": 13, "v": Regex("a")},
    {"_id": 14, "v": Timestamp(1, 1)},
    {"_id": 15, "v": MinKey()},
    {"_id": 16, "v": MaxKey()},
    {"_id": 17},
]

# --- $regex page ----------------------------------------------------------------------------------
TEXT = [
    {"_id": 1, "s": "Apple pie"},
    {"_id": 2, "s": "apple\nBanana"},
    {"_id": 3, "s": "cherry"},
    {"_id": 4, "s": ["kiwi", "Apricot"]},
    {"_id": 5, "s": 5},
    {"_id": 6},
    {"_id": 7, "s": "a1"},
    {"_id": 8, "s": "a\u0663"},  # ARABIC-INDIC DIGIT THREE: not a digit for PCRE's \d
]

# --- $mod page --------------------------------------------------------------------------------
MODS = [
    {"_id": 1, "q": 0},
    {"_id": 2, "q": 5},
    {"_id": 3, "q": 12},
    {"_id": 4, "q": -5},
    {"_id": 5, "q": 5.9},
    {"_id": 6, "q": "12"},
    {"_id": 7, "q": [4, 9]},
    {"_id": 8},
]

# --- $size page -------------------------------------------------------------------------------
SIZES = [
    {"_id": 1, "a": []},
    {"_id": 2, "a": [1]},
    {"_id": 3, "a": [1, 2]},
    {"_id": 4, "a": "ab"},
    {"_id": 5},
    {"_id": 6, "a": [[1, 2]]},
    {"_id": 7, "a": {"b": [1, 2]}},
    {"_id": 8, "a": [{"b": [1, 2]}, {"b": [3]}]},
]

# --- $all page ----------------------------------------------------------------------------------
ALL_INVENTORY = [
    {"_id": 1, "code": "xyz", "tags": ["school", "book", "bag", "headphone", "appliance"],
     "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 45, "color": "blue"},
             {"size": "L", "num": 100, "color": "green"}]},
    {"_id": 2, "code": "abc", "tags": ["appliance", "school", "book"],
     "qty": [{"size": "6", "num": 100, "color": "green"}, {"size": "6", "num": 50, "color": "blue"},
             {"size": "8", "num": 100, "color": "brown"}]},
    {"_id": 3, "code": "efg", "tags": ["school", "book"],
     "qty": [{"size": "S", "num": 10, "color": "blue"}, {"size": "M", "num": 100, "color": "blue"},
             {"size": "L", "num": 100, "color": "green"}]},
    {"_id": 4, "code": "ijk", "tags": ["electronics", "school"],
     "qty": [{"size": "M", "num": 100, "color": "green"}]},
]  # fmt: skip
NESTED_TAGS = [
    {"_id": 1, "tags": ["ssl", "security"]},
    {"_id": 2, "tags": [["ssl", "security"], "other"]},
    {"_id": 3, "tags": "ssl"},
]

# --- $elemMatch page ------------------------------------------------------------------------------
SCORES = [
    {"_id": 1, "results": [82, 85, 88]},
    {"_id": 2, "results": [75, 88, 89]},
    {"_id": 3, "results": 83},
]
SURVEY = [
    {"_id": 1, "results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]},
    {"_id": 2, "results": [{"product": "abc", "score": 8}, {"product": "xyz", "score": 7}]},
    {"_id": 3, "results": [{"product": "abc", "score": 7}, {"product": "xyz", "score": 8}]},
    {"_id": 4, "results": [{"product": "abc", "score": 7}, {"product": "def", "score": 8}]},
]

# --- $nor / $not pages ------------------------------------------------------------------------------
PRICES = [
    {"_id": 1, "price": 1.99, "sale": True},
    {"_id": 2, "price": 1.99, "sale": False},
    {"_id": 3, "price": 2, "sale": True},
    {"_id": 4, "price": 2, "sale": False},
    {"_id": 5, "price": 2},
    {"_id": 6, "sale": False},
    {"_id": 7},
    {"_id": 8, "price": "cheap"},
]

# --- $expr page ------------------------------------------------------------------------------------
BUDGET = [
    {"_id": 1, "category": "food", "budget": 400, "spent": 450},
    {"_id": 2, "category": "drinks", "budget": 100, "spent": 150},
    {"_id": 3, "category": "clothes", "budget": 100, "spent": 50},
    {"_id": 4, "category": "misc", "budget": 500, "spent": 300},
    {"_id": 5, "category": "travel", "budget": 200, "spent": 650},
]

# --- Bitwise operator pages: bit positions, integer and BinData masks, sign extension --------------
BITS = [
    {"_id": 1, "a": 54},  # 0b00110110: bits 1, 2, 4, 5
    {"_id": 2, "a": 20},  # 0b00010100: bits 2, 4
    {"_id": 3, "a": 20.0},
    {"_id": 4, "a": Binary(b"\x66")},  # 0b01100110: bits 1, 2, 5, 6
    {"_id": 5, "a": -1},  # two's complement: every bit set, sign-extended
    {"_id": 6, "a": 3.5},  # not integral: never matches
    {"_id": 7, "a": "x"},
]

# --- Array paths: numeric components, nested arrays, arrays of subdocuments ---------------------------
INDEXED = [
    {"_id": 1, "a": [5, 6]},
    {"_id": 2, "a": [6, 5]},
    {"_id": 3, "a": [{"0": 5}]},
    {"_id": 4, "a": {"0": 5}},
    {"_id": 5, "a": [[5]]},
]
DEEP = [
    {"_id": 1, "a": [{"b": [{"c": 1}, {"c": 2}]}]},
    {"_id": 2, "a": [[{"b": {"c": 1}}]]},
    {"_id": 3, "a": {"b": {"c": [0, 1]}}},
    {"_id": 4, "a": [{"b": [{"c": 3}]}, {"b": {"c": 4}}]},
]
CLASSIC = [
    {"_id": 1, "a": [{"b": 1, "c": 2}]},
    {"_id": 2, "a": [{"b": 1, "c": 3}, {"b": 0, "c": 2}]},
    {"_id": 3, "a": [{"b": 1}, {"c": 2}]},
    {"_id": 4, "a": {"b": 1, "c": 2}},
]
POSITIONS = [
    {"_id": 1, "a": [{"b": 1}, {"b": 2}]},
    {"_id": 2, "a": [{"b": 2}, {"b": 1}]},
    {"_id": 3, "a": [{"b": [1, 2]}]},
]


# Cases where SecantusDB (the default test server) deviates from MongoDB's documented
# behaviour; the Mongo backend runs them as expected failures there, with this reason.
_SECANTUS: dict[str, str] = {
    "elem_match_object_eq_null": (
        "SecantusDB: $elemMatch's document form skips nested-array elements; MongoDB treats "
        "them as documents (null_query_semantics.js)"
    ),
    "regex_digit_class_is_ascii": (
        "SecantusDB: \\d matches Unicode digits; MongoDB compiles PCRE2 with UTF but not UCP, so \\d is ASCII"
    ),
    "all_nested_array": (
        "SecantusDB: $all with a nested array does not match a field equal to that array "
        "($all page, Nested Array)"
    ),
    "elem_match_document_with_and": "SecantusDB: rejects $and inside $elemMatch's document form",
    "all_on_path_across_elements": (
        "SecantusDB: $all on a dotted path wants one element for all values; MongoDB ANDs the equalities"
    ),
    "error_operator_document_mixed_with_field": (
        "SecantusDB: accepts {$gt: 1, b: 2}; MongoDB raises 'unknown operator: b'"
    ),
    "error_regex_options_twice": (
        "SecantusDB: accepts options in both the regex and $options (MongoDB error 51074)"
    ),
    "error_mod_three_elements": "SecantusDB: accepts a $mod array of three elements",
    "error_mod_remainder_not_number": "SecantusDB: accepts a non-numeric $mod remainder",
    "error_mod_infinite_remainder": "SecantusDB: accepts an infinite $mod remainder",
    "error_geo_unsupported": (
        "SecantusDB: $near without a geospatial index returns nothing instead of an error"
    ),
}


def _case(
    name: str, docs: list[dict], filter: dict, expected: list | type[Exception], **kw: str
) -> FilterCase:
    kw.setdefault("mongo_xfail", _SECANTUS.get(name))  # type: ignore[arg-type]
    return FilterCase(name=name, docs=docs, filter=filter, expected=expected, **kw)


FILTER_CASES: list[FilterCase] = [
    # ----- Query Documents / Query on Embedded Documents (manual) -----
    _case("empty_filter_matches_all", INVENTORY, {}, [1, 2, 3, 4, 5]),
    _case("equality_top_level", INVENTORY, {"status": "D"}, [3, 4]),
    _case("implicit_and_of_fields", INVENTORY, {"status": "A", "qty": {"$lt": 30}}, [1]),
    _case("or_of_conditions", INVENTORY, {"$or": [{"status": "A"}, {"qty": {"$lt": 30}}]}, [1, 2, 5]),
    _case(
        "and_with_or",
        INVENTORY,
        {"status": "A", "$or": [{"qty": {"$lt": 30}}, {"item": {"$regex": "^p"}}]},
        [1, 5],
    ),
    _case("embedded_document_exact", INVENTORY, {"size": {"h": 14, "w": 21, "uom": "cm"}}, [1]),
    _case("embedded_document_field_order_matters", INVENTORY, {"size": {"w": 21, "h": 14, "uom": "cm"}}, []),
    _case("dotted_path_equality", INVENTORY, {"size.uom": "in"}, [2, 3]),
    _case("dotted_path_comparison", INVENTORY, {"size.h": {"$lt": 15}}, [1, 2, 3, 5]),
    _case(
        "dotted_paths_and_top_level", INVENTORY, {"size.h": {"$lt": 15}, "size.uom": "in", "status": "D"}, [3]
    ),
    # ----- Query an Array (manual) -----
    _case("array_exact_match_in_order", INVENTORY, {"tags": ["red", "blank"]}, [2]),
    _case("array_element_match", INVENTORY, {"tags": "red"}, [1, 2, 3, 4]),
    _case("array_all_elements_any_order", INVENTORY, {"tags": {"$all": ["red", "blank"]}}, [1, 2, 3, 4]),
    _case("array_element_comparison", INVENTORY, {"dim_cm": {"$gt": 25}}, [4]),
    _case(
        "array_compound_conditions_any_elements", INVENTORY, {"dim_cm": {"$gt": 15, "$lt": 20}}, [1, 2, 3, 5]
    ),
    _case(
        "array_elem_match_same_element", INVENTORY, {"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}}, [4]
    ),
    _case("array_index_position", INVENTORY, {"dim_cm.1": {"$gt": 25}}, [4]),
    _case("array_size", INVENTORY, {"tags": {"$size": 3}}, [3]),
    # ----- Query an Array of Embedded Documents (manual) -----
    _case("array_of_docs_exact_element", INSTOCK, {"instock": {"warehouse": "A", "qty": 5}}, [1]),
    _case("array_of_docs_element_field_order", INSTOCK, {"instock": {"qty": 5, "warehouse": "A"}}, []),
    _case("array_of_docs_index_path", INSTOCK, {"instock.0.qty": {"$lte": 20}}, [1, 2, 5]),
    _case("array_of_docs_any_element_path", INSTOCK, {"instock.qty": {"$lte": 20}}, [1, 2, 3, 4, 5]),
    _case(
        "array_of_docs_elem_match_both_fields",
        INSTOCK,
        {"instock": {"$elemMatch": {"qty": 5, "warehouse": "A"}}},
        [1],
    ),
    _case(
        "array_of_docs_elem_match_range",
        INSTOCK,
        {"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}},
        [1, 3, 5],
    ),
    _case(
        "array_of_docs_range_any_elements", INSTOCK, {"instock.qty": {"$gt": 10, "$lte": 20}}, [1, 3, 4, 5]
    ),
    _case(
        "array_of_docs_two_paths_not_same_element",
        INSTOCK,
        {"instock.qty": 5, "instock.warehouse": "A"},
        [1, 4],
    ),
    # ----- Query for Null or Missing Fields (manual) + null_query_semantics.js -----
    _case("null_matches_null_and_missing", [{"_id": 1, "item": None}, {"_id": 2}], {"item": None}, [1, 2]),
    _case("type_null_only_null", [{"_id": 1, "item": None}, {"_id": 2}], {"item": {"$type": 10}}, [1]),
    _case(
        "exists_false_only_missing", [{"_id": 1, "item": None}, {"_id": 2}], {"item": {"$exists": False}}, [2]
    ),
    _case("eq_null", NULLS, {"a": {"$eq": None}}, [2, 6, 13, 15]),
    _case("ne_null", NULLS, {"a": {"$ne": None}}, [1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14]),
    _case("not_gte_null", NULLS, {"a": {"$not": {"$gte": None}}}, [1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14]),
    _case("in_null", NULLS, {"a": {"$in": [None, 75]}}, [2, 6, 13, 15]),
    _case("or_null", NULLS, {"$or": [{"a": None}, {"a": 75}]}, [2, 6, 13, 15]),
    _case("nin_null", NULLS, {"a": {"$nin": [None, 75]}}, [1, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14]),
    _case(
        "nin_null_and_regex",
        NULLS,
        {"a": {"$nin": [None, re.compile("^str.*")]}},
        [1, 3, 4, 5, 7, 8, 9, 10, 11, 12],
    ),
    _case("exists_false_top_level", NULLS_NO_ARRAYS, {"a": {"$exists": False}}, [6]),
    _case("elem_match_eq_null", NULLS, {"a": {"$elemMatch": {"$eq": None}}}, [13, 15]),
    _case("elem_match_ne_null", NULLS, {"a": {"$elemMatch": {"$ne": None}}}, [7, 9, 10, 11, 12, 14, 15]),
    _case("dotted_eq_null", NULLS, {"a.b": {"$eq": None}}, [1, 2, 3, 5, 6, 9, 11, 12]),
    _case("dotted_ne_null", NULLS, {"a.b": {"$ne": None}}, [4, 7, 8, 10, 13, 14, 15]),
    _case("dotted_in_null", NULLS, {"a.b": {"$in": [None, 75]}}, [1, 2, 3, 5, 6, 9, 11, 12]),
    _case("dotted_nin_null", NULLS, {"a.b": {"$nin": [None, 75]}}, [4, 7, 8, 10, 13, 14, 15]),
    _case(
        "dotted_nin_null_and_regex",
        NULLS,
        {"a.b": {"$nin": [None, re.compile("^str.*")]}},
        [4, 7, 8, 13, 14, 15],
    ),
    _case("dotted_exists_false", NULLS_NO_ARRAYS, {"a.b": {"$exists": False}}, [1, 2, 3, 6]),
    _case("dotted_elem_match_no_arrays_at_path", NULLS, {"a.b": {"$elemMatch": {"$eq": None}}}, []),
    _case(
        "elem_match_object_eq_null",
        NULLS,
        {"a": {"$elemMatch": {"b": {"$eq": None}}}},
        [7, 9, 11, 12],
    ),
    _case("elem_match_object_ne_null", NULLS, {"a": {"$elemMatch": {"b": {"$ne": None}}}}, [10, 11, 12]),
    # ----- $eq page -----
    _case("eq_explicit_operator", EQ_INVENTORY, {"qty": {"$eq": 20}}, [2, 5]),
    _case("eq_embedded_field", EQ_INVENTORY, {"item.name": {"$eq": "ab"}}, [1]),
    _case("eq_array_element", EQ_INVENTORY, {"tags": {"$eq": "B"}}, [1, 2, 3, 4]),
    _case("eq_array_value_whole_or_element", EQ_INVENTORY, {"tags": {"$eq": ["A", "B"]}}, [3, 5]),
    _case("eq_array_value_implicit", EQ_INVENTORY, {"tags": ["A", "B"]}, [3, 5]),
    _case("eq_string_not_regex", COMPANIES, {"company": "MongoDB"}, [1]),
    # bson.Regex, not re.compile: PyMongo sends compiled str patterns with the "u" flag, and
    # MongoDB compares stored regexes by pattern *and* flags.
    _case(
        "eq_regex_operator_matches_only_regex_values", COMPANIES, {"company": {"$eq": Regex("MongoDB")}}, [3]
    ),
    _case(
        "implicit_regex_matches_strings_and_equal_regex", COMPANIES, {"company": Regex("MongoDB")}, [1, 2, 3]
    ),
    _case(
        "regex_operator_with_regex_object", COMPANIES, {"company": {"$regex": Regex("MongoDB")}}, [1, 2, 3]
    ),
    # ----- comparison operators and type bracketing (Comparison/Sort Order) -----
    _case("gt_number_brackets_to_numbers", MIXED, {"x": {"$gt": 5}}, [3, 7, 8]),
    _case("gte_number", MIXED, {"x": {"$gte": 5}}, [1, 3, 7, 8]),
    _case("lt_number_matches_array_element", MIXED, {"x": {"$lt": 6}}, [1, 7]),
    _case("lte_number", MIXED, {"x": {"$lte": 6}}, [1, 7, 8]),
    _case("gt_string_brackets_to_strings", MIXED, {"x": {"$gt": "4"}}, [2]),
    _case("gt_null_matches_nothing", MIXED, {"x": {"$gt": None}}, []),
    _case("lt_null_matches_nothing", MIXED, {"x": {"$lt": None}}, []),
    _case("gte_null_matches_null_and_missing", MIXED, {"x": {"$gte": None}}, [4, 5]),
    _case("lte_null_matches_null_and_missing", MIXED, {"x": {"$lte": None}}, [4, 5]),
    _case("equality_number_not_string", MIXED, {"x": 5}, [1]),
    _case("equality_bool_not_number", MIXED, {"x": True}, [6]),
    _case("equality_one_not_true", MIXED, {"x": 1}, [7]),
    _case("gt_false_brackets_to_bools", MIXED, {"x": {"$gt": False}}, [6]),
    _case("gt_object_brackets_to_objects", MIXED, {"x": {"$gt": {"y": 4}}}, [9]),
    _case("gt_minkey_matches_every_type", MIXED_PRESENT, {"x": {"$gt": MinKey()}}, [1, 2, 3, 4, 6, 7, 8, 9]),
    _case("lt_maxkey_matches_every_type", MIXED_PRESENT, {"x": {"$lt": MaxKey()}}, [1, 2, 3, 4, 6, 7, 8, 9]),
    _case("ne_number", MIXED, {"x": {"$ne": 5}}, [2, 3, 4, 5, 6, 7, 8, 9]),
    _case("int_equals_double_and_decimal", NUMBERS, {"x": 6}, [1, 2, 3, 5]),
    _case("double_equals_int", NUMBERS, {"x": 6.0}, [1, 2, 3, 5]),
    _case("decimal_equals_int", NUMBERS, {"x": Decimal128("6")}, [1, 2, 3, 5]),
    _case("gt_across_numeric_types", NUMBERS, {"x": {"$gt": 6}}, [4]),
    _case("in_decimal_value", NUMBERS, {"x": {"$in": [Decimal128("6.50")]}}, [4]),
    _case("nan_equals_nan", NUMBERS, {"x": float("nan")}, [7]),
    _case("nan_not_less_than_numbers", NUMBERS, {"x": {"$lt": 0}}, [8]),
    _case("gt_nan_matches_nothing", NUMBERS, {"x": {"$gt": float("nan")}}, []),
    _case("gte_nan_matches_nan", NUMBERS, {"x": {"$gte": float("nan")}}, [7]),
    _case("date_gt_brackets_to_dates", DATES, {"d": {"$gt": dt.datetime(2021, 1, 1)}}, [2, 4]),
    _case("naive_datetime_is_utc", DATES, {"d": dt.datetime(2021, 6, 1)}, [2]),
    _case(
        "aware_datetime_compared_in_utc",
        DATES,
        {"d": {"$lte": dt.datetime(2020, 1, 1, 2, tzinfo=_PLUS2)}},
        [1],
    ),
    _case("objectid_equality_not_string", OIDS, {"ref": OID_1}, [1]),
    _case("objectid_ordering", OIDS, {"ref": {"$gt": OID_1}}, [2]),
    _case("nested_document_equality_numbers_by_value", NESTED, {"a": {"b": 1, "c": 2}}, [1, 4, 5]),
    _case("nested_document_equality_order_sensitive", NESTED, {"a": {"c": 2, "b": 1}}, [2]),
    _case("nested_path_ignores_field_order", NESTED, {"a.b": 1, "a.c": 2}, [1, 2, 3, 4, 5]),
    _case("literal_document_with_operator_key_after_field", NESTED, {"a": {"b": 1, "$gt": 0}}, []),
    # ----- $in / $nin pages -----
    _case("in_numbers", EQ_INVENTORY, {"qty": {"$in": [15, 30]}}, [1, 4]),
    _case(
        "in_array_field_any_element",
        ALL_INVENTORY,
        {"tags": {"$in": ["appliance", "electronics"]}},
        [1, 2, 4],
    ),
    _case("in_regexes", ALL_INVENTORY, {"tags": {"$in": [re.compile("^be"), re.compile("^he")]}}, [1]),
    _case("in_array_value", NESTED_TAGS, {"tags": {"$in": [["ssl", "security"]]}}, [1, 2]),
    _case(
        "nin_matches_missing",
        [{"_id": 1, "q": 5}, {"_id": 2, "q": 6}, {"_id": 3}],
        {"q": {"$nin": [5, 15]}},
        [2, 3],
    ),
    _case("nin_array_field", ALL_INVENTORY, {"tags": {"$nin": ["school"]}}, []),
    _case("in_empty_matches_nothing", EQ_INVENTORY, {"qty": {"$in": []}}, []),
    _case("nin_empty_matches_all", EQ_INVENTORY, {"qty": {"$nin": []}}, [1, 2, 3, 4, 5]),
    # ----- $and / $or / $nor / $not pages -----
    _case("and_same_field", EQ_INVENTORY, {"$and": [{"qty": {"$gt": 15}}, {"qty": {"$lt": 30}}]}, [2, 3, 5]),
    _case(
        "nor_includes_missing_fields", PRICES, {"$nor": [{"price": 1.99}, {"sale": True}]}, [4, 5, 6, 7, 8]
    ),
    _case(
        "not_gt_includes_missing_and_other_types", PRICES, {"price": {"$not": {"$gt": 1.99}}}, [1, 2, 6, 7, 8]
    ),
    _case("not_with_regex", INVENTORY, {"item": {"$not": re.compile("^p.*")}}, [1, 2]),
    _case("not_with_regex_operator", INVENTORY, {"item": {"$not": {"$regex": "^p.*"}}}, [1, 2]),
    _case("not_with_operator_document", INVENTORY, {"qty": {"$not": {"$gte": 30, "$lte": 80}}}, [1, 3]),
    _case("comment_is_ignored", INVENTORY, {"status": "D", "$comment": "any value"}, [3, 4]),
    _case(
        "nested_logical",
        INVENTORY,
        {"$and": [{"$or": [{"qty": 25}, {"qty": 100}]}, {"$nor": [{"status": "D"}]}]},
        [1],
    ),
    # ----- $exists page -----
    _case("exists_true", TYPES, {"v": {"$exists": True}}, list(range(1, 17))),
    _case("exists_false", TYPES, {"v": {"$exists": False}}, [17]),
    _case("exists_numeric_truthiness", TYPES, {"v": {"$exists": 0}}, [17]),
    _case("exists_on_null_value", [{"_id": 1, "a": None}, {"_id": 2}], {"a": {"$exists": True}}, [1]),
    # ----- $type page -----
    _case("type_number_alias", TYPES, {"v": {"$type": "number"}}, [1, 2, 3, 4, 7]),
    _case("type_string_includes_array_elements", TYPES, {"v": {"$type": "string"}}, [5, 7]),
    _case("type_array", TYPES, {"v": {"$type": "array"}}, [7]),
    _case("type_object", TYPES, {"v": {"$type": "object"}}, [6]),
    _case("type_int_code", TYPES, {"v": {"$type": 16}}, [1, 7]),
    _case("type_long", TYPES, {"v": {"$type": "long"}}, [2]),
    _case("type_double", TYPES, {"v": {"$type": "double"}}, [3]),
    _case("type_decimal", TYPES, {"v": {"$type": "decimal"}}, [4]),
    _case("type_null", TYPES, {"v": {"$type": "null"}}, [8]),
    _case("type_bool", TYPES, {"v": {"$type": "bool"}}, [9]),
    _case("type_date", TYPES, {"v": {"$type": "date"}}, [10]),
    _case("type_object_id", TYPES, {"v": {"$type": "objectId"}}, [11]),
    _case("type_bin_data", TYPES, {"v": {"$type": "binData"}}, [12]),
    _case("type_regex", TYPES, {"v": {"$type": "regex"}}, [13]),
    _case("type_timestamp", TYPES, {"v": {"$type": "timestamp"}}, [14]),
    _case("type_min_key", TYPES, {"v": {"$type": "minKey"}}, [15]),
    _case("type_max_key", TYPES, {"v": {"$type": "maxKey"}}, [16]),
    _case("type_numeric_code_as_double", TYPES, {"v": {"$type": -1.0}}, [15]),
    _case("type_list_of_aliases", TYPES, {"v": {"$type": ["string", "bool"]}}, [5, 7, 9]),
    _case("type_list_of_codes", TYPES, {"v": {"$type": [2, 8]}}, [5, 7, 9]),
    # ----- $regex page -----
    _case("regex_case_sensitive", TEXT, {"s": {"$regex": "^a"}}, [2, 7, 8]),
    _case("regex_option_i", TEXT, {"s": {"$regex": "^a", "$options": "i"}}, [1, 2, 4, 7, 8]),
    _case("regex_options_before_regex", TEXT, {"s": {"$options": "i", "$regex": "^a"}}, [1, 2, 4, 7, 8]),
    _case("regex_option_m_anchors_lines", TEXT, {"s": {"$regex": "^banana", "$options": "im"}}, [2]),
    _case("regex_without_m_anchors_string", TEXT, {"s": {"$regex": "^banana", "$options": "i"}}, []),
    _case(
        "regex_option_s_dot_matches_newline", TEXT, {"s": {"$regex": "apple.banana", "$options": "si"}}, [2]
    ),
    _case("regex_dot_excludes_newline", TEXT, {"s": {"$regex": "apple.banana", "$options": "i"}}, []),
    _case(
        "regex_option_x_ignores_whitespace",
        TEXT,
        {"s": {"$regex": "c h e r r y  # a comment", "$options": "x"}},
        [3],
    ),
    _case(
        "regex_digit_class_is_ascii",
        TEXT,
        {"s": {"$regex": "^a\\d$"}},
        [7],
    ),
    _case("regex_object_value", TEXT, {"s": Regex("^c")}, [3]),
    _case("regex_compiled_pattern_with_flag", TEXT, {"s": re.compile("PIE$", re.IGNORECASE)}, [1]),
    _case(
        "regex_object_with_options_operator",
        TEXT,
        {"s": {"$regex": Regex("^ap"), "$options": "i"}},
        [1, 2, 4],
    ),
    _case("regex_in_with_string", TEXT, {"s": {"$in": [re.compile("^ch"), "Apple pie"]}}, [1, 3]),
    _case("regex_nin", TEXT, {"s": {"$nin": [re.compile("^ch")]}}, [1, 2, 4, 5, 6, 7, 8]),
    _case("regex_not", TEXT, {"s": {"$not": re.compile("^a", re.IGNORECASE)}}, [3, 5, 6]),
    _case("regex_with_other_operator", TEXT, {"s": {"$regex": "^a", "$nin": ["a1"]}}, [2, 8]),
    _case("regex_all", TEXT, {"s": {"$all": [re.compile("^k"), re.compile("^A")]}}, [4]),
    # ----- $mod page -----
    _case("mod_remainder_zero", MODS, {"q": {"$mod": [4, 0]}}, [1, 3, 7]),
    _case("mod_truncates_dividend", MODS, {"q": {"$mod": [4, 1]}}, [2, 5, 7]),
    _case("mod_negative_dividend", MODS, {"q": {"$mod": [4, -1]}}, [4]),
    _case("mod_truncates_float_divisor", MODS, {"q": {"$mod": [4.5, 0]}}, [1, 3, 7]),
    _case("mod_negative_divisor", MODS, {"q": {"$mod": [-4, 1]}}, [2, 5, 7]),
    # ----- $size page -----
    _case("size_zero", SIZES, {"a": {"$size": 0}}, [1]),
    _case("size_one_counts_nested_array_once", SIZES, {"a": {"$size": 1}}, [2, 6]),
    _case("size_two", SIZES, {"a": {"$size": 2}}, [3, 8]),
    _case("size_whole_double", SIZES, {"a": {"$size": 2.0}}, [3, 8]),
    _case("size_through_path", SIZES, {"a.b": {"$size": 2}}, [7, 8]),
    _case("not_size_zero", SIZES, {"a": {"$not": {"$size": 0}}}, [2, 3, 4, 5, 6, 7, 8]),
    # ----- $all page -----
    _case("all_strings", ALL_INVENTORY, {"tags": {"$all": ["appliance", "school", "book"]}}, [1, 2]),
    _case(
        "all_with_elem_match",
        ALL_INVENTORY,
        {
            "qty": {
                "$all": [
                    {"$elemMatch": {"size": "M", "num": {"$gt": 50}}},
                    {"$elemMatch": {"num": 100, "color": "green"}},
                ]
            }
        },
        [3, 4],
    ),  # fmt: skip
    _case("all_on_dotted_path", ALL_INVENTORY, {"qty.num": {"$all": [50]}}, [2]),
    _case(
        "all_nested_array",
        NESTED_TAGS,
        {"tags": {"$all": [["ssl", "security"]]}},
        [1, 2],
    ),
    _case("all_on_scalar_field", NESTED_TAGS, {"tags": {"$all": ["ssl"]}}, [1, 3]),
    _case("all_empty_matches_nothing", NESTED_TAGS, {"tags": {"$all": []}}, []),
    # ----- $elemMatch page -----
    _case("elem_match_value_range", SCORES, {"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, [1]),
    _case("elem_match_requires_array", SCORES, {"results": {"$elemMatch": {"$gte": 80}}}, [1, 2]),
    _case("elem_match_value_with_not", SCORES, {"results": {"$elemMatch": {"$not": {"$gte": 80}}}}, [2]),
    _case(
        "elem_match_document_two_conditions",
        SURVEY,
        {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}},
        [3],
    ),
    _case("elem_match_single_condition", SURVEY, {"results": {"$elemMatch": {"product": "xyz"}}}, [1, 2, 3]),
    _case(
        "elem_match_ne_any_element",
        SURVEY,
        {"results": {"$elemMatch": {"product": {"$ne": "xyz"}}}},
        [1, 2, 3, 4],
    ),
    _case("dotted_ne_no_element", SURVEY, {"results.product": {"$ne": "xyz"}}, [4]),
    _case(
        "elem_match_document_with_and",
        SURVEY,
        {"results": {"$elemMatch": {"$and": [{"product": "abc"}, {"score": {"$gt": 9}}]}}},
        [1],
    ),
    _case(
        "elem_match_empty_document",
        [{"_id": 1, "a": [1, {}]}, {"_id": 2, "a": [1, 2]}],
        {"a": {"$elemMatch": {}}},
        [1],
    ),
    # ----- $expr page -----
    _case("expr_compares_two_fields", BUDGET, {"$expr": {"$gt": ["$spent", "$budget"]}}, [1, 2, 5]),
    _case(
        "expr_with_other_conditions",
        BUDGET,
        {"category": {"$ne": "food"}, "$expr": {"$gt": ["$spent", "$budget"]}},
        [2, 5],
    ),
    _case("expr_constant_true", BUDGET, {"$expr": True}, [1, 2, 3, 4, 5]),
    _case("expr_zero_is_false", BUDGET, {"$expr": 0}, []),
    _case(
        "expr_inside_or", BUDGET, {"$or": [{"category": "misc"}, {"$expr": {"$lt": ["$spent", 100]}}]}, [3, 4]
    ),
    # ----- bitwise operator pages -----
    _case("bits_all_set_positions", BITS, {"a": {"$bitsAllSet": [1, 5]}}, [1, 4, 5]),
    _case("bits_all_clear_positions", BITS, {"a": {"$bitsAllClear": [1, 5]}}, [2, 3]),
    _case("bits_any_set_positions", BITS, {"a": {"$bitsAnySet": [1, 5]}}, [1, 4, 5]),
    _case("bits_any_clear_positions", BITS, {"a": {"$bitsAnyClear": [1, 5]}}, [2, 3]),
    _case("bits_all_set_integer_mask", BITS, {"a": {"$bitsAllSet": 50}}, [1, 5]),
    _case("bits_any_set_bindata_mask", BITS, {"a": {"$bitsAnySet": Binary(b"\x30")}}, [1, 2, 3, 4, 5]),
    _case("bits_negative_numbers_sign_extended", BITS, {"a": {"$bitsAllSet": [70]}}, [5]),
    # ----- paths through arrays: numeric components, nesting, one level per component -----
    _case("numeric_component_indexes_and_names_keys", INDEXED, {"a.0": 5}, [1, 3, 4]),
    _case("numeric_component_second_position", INDEXED, {"a.1": 5}, [2]),
    _case("index_then_field", POSITIONS, {"a.1.b": 2}, [1]),
    _case("field_then_index", POSITIONS, {"a.b.0": 1}, [3]),
    _case("two_levels_of_arrays", DEEP, {"a.b.c": 1}, [1, 3]),
    _case("arrays_nested_in_arrays_not_traversed", DEEP, {"a.b": {"c": 1}}, [1]),
    _case("array_path_mixed_shapes", DEEP, {"a.b.c": {"$gt": 2}}, [4]),
    _case("dotted_paths_may_match_different_elements", CLASSIC, {"a.b": 1, "a.c": 2}, [1, 2, 3, 4]),
    _case("elem_match_needs_one_element", CLASSIC, {"a": {"$elemMatch": {"b": 1, "c": 2}}}, [1]),
    _case(
        "all_on_path_across_elements",
        POSITIONS,
        {"a.b": {"$all": [1, 2]}},
        [1, 2, 3],
    ),
    _case(
        "all_inside_elem_match_one_element", POSITIONS, {"a": {"$elemMatch": {"b": {"$all": [1, 2]}}}}, [3]
    ),
    # ----- errors: unknown / unsupported operators, malformed operands -----
    _case("error_unknown_top_level_operator", INVENTORY, {"$foo": 1}, QueryError),
    _case("error_not_at_top_level", INVENTORY, {"$not": {"qty": 1}}, QueryError),
    _case("error_unknown_field_operator", INVENTORY, {"qty": {"$foo": 1}}, QueryError),
    _case(
        "error_operator_document_mixed_with_field",
        INVENTORY,
        {"qty": {"$gt": 1, "b": 2}},
        QueryError,
    ),
    _case("error_where_is_javascript", INVENTORY, {"$where": "this.qty > 1"}, QueryError),
    _case("error_where_on_field", INVENTORY, {"qty": {"$where": "1"}}, QueryError),
    _case("error_and_empty", INVENTORY, {"$and": []}, QueryError),
    _case("error_or_not_array", INVENTORY, {"$or": {"qty": 1}}, QueryError),
    _case("error_nor_entry_not_document", INVENTORY, {"$nor": [1]}, QueryError),
    _case("error_in_not_array", INVENTORY, {"qty": {"$in": 5}}, QueryError),
    _case("error_in_with_operator", INVENTORY, {"qty": {"$in": [{"$gt": 1}]}}, QueryError),
    _case("error_nin_not_array", INVENTORY, {"qty": {"$nin": 5}}, QueryError),
    _case("error_ne_regex", INVENTORY, {"item": {"$ne": re.compile("^p")}}, QueryError),
    _case("error_gt_regex", INVENTORY, {"item": {"$gt": re.compile("^p")}}, QueryError),
    _case("error_not_scalar", INVENTORY, {"qty": {"$not": 5}}, QueryError),
    _case("error_not_empty", INVENTORY, {"qty": {"$not": {}}}, QueryError),
    _case("error_not_with_field_name", INVENTORY, {"qty": {"$not": {"a": 1}}}, QueryError),
    _case("error_regex_bad_option", TEXT, {"s": {"$regex": "a", "$options": "g"}}, QueryError),
    _case("error_options_without_regex", TEXT, {"s": {"$options": "i"}}, QueryError),
    _case("error_regex_not_string", TEXT, {"s": {"$regex": 5}}, QueryError),
    _case(
        "error_regex_options_twice",
        TEXT,
        {"s": {"$regex": Regex("a", "i"), "$options": "m"}},
        QueryError,
    ),
    _case("error_regex_invalid_pattern", TEXT, {"s": {"$regex": "(unclosed"}}, QueryError),
    _case("error_type_unknown_alias", TYPES, {"v": {"$type": "text"}}, QueryError),
    _case("error_type_unknown_code", TYPES, {"v": {"$type": 99}}, QueryError),
    _case("error_type_empty_list", TYPES, {"v": {"$type": []}}, QueryError),
    _case("error_size_negative", SIZES, {"a": {"$size": -1}}, QueryError),
    _case("error_size_fraction", SIZES, {"a": {"$size": 1.5}}, QueryError),
    _case("error_size_not_number", SIZES, {"a": {"$size": "2"}}, QueryError),
    _case("error_mod_not_array", MODS, {"q": {"$mod": 4}}, QueryError),
    _case("error_mod_one_element", MODS, {"q": {"$mod": [4]}}, QueryError),
    _case(
        "error_mod_three_elements",
        MODS,
        {"q": {"$mod": [4, 1, 2]}},
        QueryError,
    ),
    _case("error_mod_zero_divisor", MODS, {"q": {"$mod": [0, 1]}}, QueryError),
    _case("error_mod_divisor_not_number", MODS, {"q": {"$mod": ["4", 1]}}, QueryError),
    _case(
        "error_mod_remainder_not_number",
        MODS,
        {"q": {"$mod": [4, "1"]}},
        QueryError,
    ),
    _case("error_mod_nan_divisor", MODS, {"q": {"$mod": [float("nan"), 1]}}, QueryError),
    _case(
        "error_mod_infinite_remainder",
        MODS,
        {"q": {"$mod": [4, float("inf")]}},
        QueryError,
    ),
    _case("error_all_not_array", ALL_INVENTORY, {"tags": {"$all": "school"}}, QueryError),
    _case(
        "error_all_elem_match_inconsistent",
        ALL_INVENTORY,
        {"qty": {"$all": [{"$elemMatch": {"num": 10}}, 5]}},
        QueryError,
    ),
    _case("error_all_with_operator", ALL_INVENTORY, {"qty.num": {"$all": [10, {"$gt": 5}]}}, QueryError),
    _case("error_elem_match_not_document", SCORES, {"results": {"$elemMatch": 5}}, QueryError),
    _case("error_elem_match_with_where", SURVEY, {"results": {"$elemMatch": {"$where": "1"}}}, QueryError),
    _case("error_elem_match_with_expr", SURVEY, {"results": {"$elemMatch": {"$expr": True}}}, QueryError),
    _case("error_expr_on_field", BUDGET, {"spent": {"$expr": True}}, QueryError),
    _case("error_bits_negative_mask", BITS, {"a": {"$bitsAllSet": -1}}, QueryError),
    _case("error_bits_negative_position", BITS, {"a": {"$bitsAllSet": [-1]}}, QueryError),
    _case("error_bits_fractional_mask", BITS, {"a": {"$bitsAnySet": 1.5}}, QueryError),
    _case("error_bits_string_operand", BITS, {"a": {"$bitsAnyClear": "1"}}, QueryError),
    _case("error_text_search_unsupported", TEXT, {"$text": {"$search": "apple"}}, QueryError),
    _case(
        "error_geo_unsupported",
        TEXT,
        {"loc": {"$near": [0, 0]}},
        QueryError,
    ),
    _case("error_always_true_operand", TEXT, {"$alwaysTrue": 2}, QueryError),
]

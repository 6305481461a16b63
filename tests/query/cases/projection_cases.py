"""Projection cases: one document, a find projection (and filter), and the document MongoDB returns.

Expectations come from the manual ("Project Fields to Return from Query", the ``$slice``,
``$elemMatch`` and positional ``$`` projection pages, including their 4.4+ field-order notes)
and from the MongoDB server's ``jstests/core/projection_semantics.js``, which checks the same
results for ``find`` and for the ``$project`` stage. Field order is part of the expectation.
"""

from __future__ import annotations

import datetime as dt

from mindtrace.database.core.exceptions import QueryError
from tests.query.cases import ProjectionCase

JOURNAL = {
    "_id": 1,
    "item": "journal",
    "status": "A",
    "size": {"h": 14, "w": 21, "uom": "cm"},
    "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}],
}
SOCKS = {
    "_id": 1,
    "item": "socks",
    "qty": 100,
    "details": {"colors": ["blue", "red"], "sizes": ["S", "M", "L"]},
}
POSTS = {"_id": 1, "title": "t", "comments": [1, 2, 3, 4, 5], "tags": "none"}
SCHOOL = {
    "_id": 1,
    "zipcode": "63109",
    "students": [
        {"name": "john", "school": 102, "age": 10},
        {"name": "jess", "school": 102, "age": 11},
        {"name": "jeff", "school": 108, "age": 15},
    ],
}
SCHOOL_NO_MATCH = {
    "_id": 3,
    "zipcode": "63109",
    "students": [{"name": "ajax", "school": 100, "age": 7}, {"name": "achilles", "school": 100, "age": 8}],
}
PLAYER = {
    "_id": 1,
    "name": "player1",
    "games": [{"game": "abc", "score": 8}, {"game": "xyz", "score": 5}],
    "joined": dt.datetime(2020, 1, 1),
    "lastLogin": dt.datetime(2020, 5, 1),
}
MEASUREMENTS = {"_id": 1, "measurements": {"temperature": 20, "pressure": 0.7, "humidity": 0.4, "time": 5}}


# Cases where SecantusDB (the default test server) deviates from MongoDB's documented
# behaviour; the Mongo backend runs them as expected failures there, with this reason.
_SECANTUS: dict[str, str] = {
    "computed_dotted_field_overwrites_scalars_in_arrays": (
        "SecantusDB: computed dotted fields replace arrays instead of traversing them "
        "(projection_semantics.js)"
    ),
    "computed_dotted_field_leaves_empty_array": (
        "SecantusDB: computed dotted fields replace arrays instead of traversing them "
        "(projection_semantics.js)"
    ),
    "computed_dotted_field_through_nested_arrays": (
        "SecantusDB: computed dotted fields replace arrays instead of traversing them "
        "(projection_semantics.js)"
    ),
    "elem_match_field_comes_after_inclusions": (
        "SecantusDB: keeps document order for $elemMatch fields; MongoDB 4.4+ puts them after the inclusions"
    ),
    "error_elem_match_nested_field": (
        "SecantusDB: accepts $elemMatch projections on nested fields (MongoDB error 31275)"
    ),
    "error_positional_and_elem_match": (
        "SecantusDB: accepts a positional and an $elemMatch projection together (MongoDB error 31256)"
    ),
    "error_dollar_field_name": "SecantusDB: accepts a $-prefixed projection field name",
}


def _case(
    name: str, doc: dict, projection: dict, expected: dict | type[Exception], **kw: object
) -> ProjectionCase:
    kw.setdefault("mongo_xfail", _SECANTUS.get(name))
    return ProjectionCase(name=name, doc=doc, projection=projection, expected=expected, **kw)  # type: ignore[arg-type]


PROJECTION_CASES: list[ProjectionCase] = [
    # ----- "Project Fields to Return from Query" (manual) -----
    _case("empty_projection_returns_everything", JOURNAL, {}, JOURNAL),
    _case(
        "include_fields_and_id",
        JOURNAL,
        {"item": 1, "status": 1},
        {"_id": 1, "item": "journal", "status": "A"},
    ),
    _case(
        "include_fields_without_id",
        JOURNAL,
        {"item": 1, "status": 1, "_id": 0},
        {"item": "journal", "status": "A"},
    ),
    _case(
        "include_true_and_numbers",
        JOURNAL,
        {"item": True, "status": 2.5},
        {"_id": 1, "item": "journal", "status": "A"},
    ),
    _case(
        "exclude_fields",
        JOURNAL,
        {"status": 0, "instock": 0},
        {"_id": 1, "item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}},
    ),
    _case(
        "include_embedded_field",
        JOURNAL,
        {"item": 1, "status": 1, "size.uom": 1},
        {"_id": 1, "item": "journal", "status": "A", "size": {"uom": "cm"}},
    ),
    _case(
        "include_embedded_field_as_nested_spec",
        JOURNAL,
        {"item": 1, "status": 1, "size": {"uom": 1}},
        {"_id": 1, "item": "journal", "status": "A", "size": {"uom": "cm"}},
    ),
    _case(
        "exclude_embedded_field",
        JOURNAL,
        {"size.uom": 0},
        {
            "_id": 1,
            "item": "journal",
            "status": "A",
            "size": {"h": 14, "w": 21},
            "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}],
        },
    ),  # fmt: skip
    _case(
        "include_field_of_array_elements",
        JOURNAL,
        {"item": 1, "status": 1, "instock.qty": 1},
        {"_id": 1, "item": "journal", "status": "A", "instock": [{"qty": 5}, {"qty": 15}]},
    ),
    _case(
        "included_fields_keep_document_order",
        JOURNAL,
        {"status": 1, "item": 1},
        {"_id": 1, "item": "journal", "status": "A"},
    ),
    _case(
        "aggregation_expressions_in_find_projection",
        JOURNAL,
        {
            "_id": 0,
            "item": 1,
            "status": {
                "$switch": {
                    "branches": [
                        {"case": {"$eq": ["$status", "A"]}, "then": "Available"},
                        {"case": {"$eq": ["$status", "D"]}, "then": "Discontinued"},
                    ],
                    "default": "No status found",
                }
            },
            "area": {"$concat": [{"$toString": {"$multiply": ["$size.h", "$size.w"]}}, " ", "$size.uom"]},
            "reportNumber": {"$literal": 1},
        },
        {"item": "journal", "status": "Available", "area": "294 cm", "reportNumber": 1},
    ),  # fmt: skip
    _case("field_path_expression", JOURNAL, {"_id": 0, "unit": "$size.uom"}, {"unit": "cm"}),
    _case("missing_field_path_expression_omits_field", JOURNAL, {"_id": 0, "nope": "$missing"}, {}),
    _case("literal_string_value", JOURNAL, {"_id": 0, "label": "hello"}, {"label": "hello"}),
    _case(
        "computed_fields_follow_included_fields",
        JOURNAL,
        {"full": {"$concat": ["$item", "-", "$status"]}, "item": 1},
        {"_id": 1, "item": "journal", "full": "journal-A"},
    ),
    # ----- jstests/core/projection_semantics.js -----
    _case("include_missing_field_gives_only_id", {"_id": 1, "b": "other"}, {"a": 1}, {"_id": 1}),
    _case("include_null_field", {"_id": 1, "a": None, "b": 1}, {"a": 1}, {"_id": 1, "a": None}),
    _case("include_empty_array_as_is", {"_id": 1, "a": []}, {"a": 1, "_id": 0}, {"a": []}),
    _case("dotted_include_keeps_empty_parent", {"_id": 1, "a": {}}, {"a.b": 1}, {"_id": 1, "a": {}}),
    _case("dotted_include_drops_scalar_parent", {"_id": 1, "a": "scalar"}, {"a.b": 1}, {"_id": 1}),
    _case(
        "dotted_include_excludes_subdocument_id",
        {"_id": 1, "a": {"b": "demo", "_id": "extra"}},
        {"a.b": 1},
        {"_id": 1, "a": {"b": "demo"}},
    ),
    _case(
        "dotted_include_through_array_leaves_empty_documents",
        {"_id": 1, "a": [{"b": 1, "c": 1}, {"c": 2}], "x": "extra"},
        {"a.b": 1},
        {"_id": 1, "a": [{"b": 1}, {}]},
    ),
    _case(
        "dotted_include_drops_scalars_in_arrays",
        {"_id": 1, "a": ["scalar", {}, "scalar", {"c": 1}], "x": "extra"},
        {"a.b": 1, "_id": 0},
        {"a": [{}, {}]},
    ),
    _case(
        "dotted_include_traverses_nested_arrays",
        {"_id": 1, "a": [[1, {"b": 1}, {"b": 2, "c": 2}, "scalar"]]},
        {"a.b": 1, "_id": 0},
        {"a": [[{"b": 1}, {"b": 2}]]},
    ),
    _case(
        "dotted_include_nested_arrays_keep_shape",
        {"_id": 1, "a": [[], [[], [], [1], [{"c": 1}]], {"b": 1}]},
        {"a.b": 1, "_id": 0},
        {"a": [[], [[], [], [], [{}]], {"b": 1}]},
    ),
    _case(
        "two_paths_through_same_array",
        {"_id": 1, "a": [{"b": 1, "c": 2, "d": 3}, {"b": 4, "c": 5, "d": 6}]},
        {"a.b": 1, "a.c": 1, "_id": 0},
        {"a": [{"b": 1, "c": 2}, {"b": 4, "c": 5}]},
    ),
    _case(
        "three_level_include_preserves_structure",
        {
            "_id": 1,
            "a": [
                {"bPrime": [{"c": "x"}, {"c": "x"}]},
                {"b": [{"cPrime": "x", "d": 1}, {"cPrime": "x", "d": 2}]},
                {"b": [{"c": 3, "d": 3}, {"cPrime": "x", "d": 4}, {"c": 5}]},
                {"bPrime": {"somethingDifferent": "just because"}},
            ],
        },
        {"a.b.c": 1, "_id": 0},
        {"a": [{}, {"b": [{}, {}]}, {"b": [{"c": 3}, {}, {"c": 5}]}, {}]},
    ),  # fmt: skip
    _case(
        "three_level_include_scalar_on_path",
        {"_id": 1, "a": {"b": "scalar"}},
        {"a.b.c": 1, "_id": 0},
        {"a": {}},
    ),
    _case("exclude_top_level", {"_id": 1, "a": 1, "b": 1, "c": 1}, {"a": 0, "b": 0}, {"_id": 1, "c": 1}),
    _case(
        "dotted_exclude_keeps_scalars_in_arrays",
        {"_id": 1, "a": ["scalar", {"b": 1, "c": 1, "d": 1}, {"b": 2, "c": 2}, {"b": 3}]},
        {"a.b": 0},
        {"_id": 1, "a": ["scalar", {"c": 1, "d": 1}, {"c": 2}, {}]},
    ),
    _case(
        "dotted_exclude_through_nested_arrays",
        {"_id": 1, "a": [[], [{"b": [[1, 2], {"c": 1, "d": 1}]}]]},
        {"a.b.c": 0},
        {"_id": 1, "a": [[], [{"b": [[1, 2], {"d": 1}]}]]},
    ),
    _case(
        "computed_literal_and_string",
        {"_id": 1, "a": 1, "b": 1, "c": 1},
        {"a": {"$literal": 0}, "b": "string"},
        {"_id": 1, "a": 0, "b": "string"},
    ),
    _case(
        "computed_dotted_field_replaces_document",
        {"_id": 1, "a": {"b": 1, "c": 1, "d": 1}, "x": {"y": 1, "z": 1}},
        {"a.b": "new value"},
        {"_id": 1, "a": {"b": "new value"}},
    ),
    _case(
        "computed_dotted_field_overwrites_scalars_in_arrays",
        {"_id": 1, "a": ["scalar", {"b": 1, "c": 1, "d": 1}, {"b": 2, "c": 2}, {"b": 3}]},
        {"a.b": "new value"},
        {"_id": 1, "a": [{"b": "new value"}, {"b": "new value"}, {"b": "new value"}, {"b": "new value"}]},
    ),
    _case(
        "computed_dotted_field_leaves_empty_array",
        {"_id": 1, "a": []},
        {"a.b": "new value"},
        {"_id": 1, "a": []},
    ),
    _case(
        "computed_dotted_field_through_nested_arrays",
        {"_id": 1, "a": [[], [{"b": [[1, 2], {"c": 1, "d": 1}]}]]},
        {"a.b.c": "new value"},
        {"_id": 1, "a": [[], [{"b": [[{"c": "new value"}, {"c": "new value"}], {"c": "new value"}]}]]},
    ),
    _case(
        "computed_dotted_field_on_missing_parent",
        {"_id": 1},
        {"a.b": {"$literal": 1}},
        {"_id": 1, "a": {"b": 1}},
    ),
    _case("only_id_included", {"_id": 1, "a": 1}, {"_id": 1}, {"_id": 1}),
    _case("only_id_excluded", {"_id": 1, "a": 1, "b": 1}, {"_id": 0}, {"a": 1, "b": 1}),
    _case(
        "nested_spec_inclusion",
        MEASUREMENTS,
        {"measurements": {"temperature": 1, "pressure": 1}, "_id": 0},
        {"measurements": {"temperature": 20, "pressure": 0.7}},
    ),
    _case(
        "nested_spec_exclusion",
        MEASUREMENTS,
        {"measurements": {"humidity": 0, "time": 0}, "_id": 0},
        {"measurements": {"temperature": 20, "pressure": 0.7}},
    ),
    # ----- $slice (projection) page -----
    _case(
        "slice_embedded_array_in_inclusion",
        SOCKS,
        {"qty": 1, "details.colors": {"$slice": 1}},
        {"_id": 1, "qty": 100, "details": {"colors": ["blue"]}},
    ),
    _case(
        "slice_embedded_array_in_exclusion",
        SOCKS,
        {"details.colors": {"$slice": 1}},
        {"_id": 1, "item": "socks", "qty": 100, "details": {"colors": ["blue"], "sizes": ["S", "M", "L"]}},
    ),
    _case("slice_first_n", POSTS, {"comments": {"$slice": 2}}, {**POSTS, "comments": [1, 2]}),
    _case("slice_last_n", POSTS, {"comments": {"$slice": -2}}, {**POSTS, "comments": [4, 5]}),
    _case("slice_more_than_length", POSTS, {"comments": {"$slice": 10}}, POSTS),
    _case("slice_skip_limit", POSTS, {"comments": {"$slice": [1, 2]}}, {**POSTS, "comments": [2, 3]}),
    _case("slice_negative_skip", POSTS, {"comments": {"$slice": [-4, 2]}}, {**POSTS, "comments": [2, 3]}),
    _case("slice_skip_past_end", POSTS, {"comments": {"$slice": [10, 2]}}, {**POSTS, "comments": []}),
    _case("slice_non_array_unchanged", POSTS, {"tags": {"$slice": 1}}, POSTS),
    _case(
        "slice_with_inclusion_and_id",
        POSTS,
        {"_id": 1, "comments": {"$slice": 1}},
        {"_id": 1, "comments": [1]},
    ),
    _case("error_slice_limit_not_positive", POSTS, {"comments": {"$slice": [1, 0]}}, QueryError),
    _case("error_slice_one_element_array", POSTS, {"comments": {"$slice": [1]}}, QueryError),
    # ----- $elemMatch (projection) page -----
    _case(
        "elem_match_first_matching_element",
        SCHOOL,
        {"students": {"$elemMatch": {"school": 102}}},
        {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]},
    ),
    _case(
        "elem_match_two_conditions",
        SCHOOL,
        {"students": {"$elemMatch": {"school": 102, "age": {"$gt": 10}}}},
        {"_id": 1, "students": [{"name": "jess", "school": 102, "age": 11}]},
    ),
    _case(
        "elem_match_no_match_omits_field",
        SCHOOL_NO_MATCH,
        {"students": {"$elemMatch": {"school": 102}}},
        {"_id": 3},
    ),
    _case(
        "elem_match_with_other_inclusions",
        SCHOOL,
        {"zipcode": 1, "students": {"$elemMatch": {"school": 102}}},
        {"_id": 1, "zipcode": "63109", "students": [{"name": "john", "school": 102, "age": 10}]},
    ),
    _case(
        "elem_match_field_comes_after_inclusions",
        PLAYER,
        {"games": {"$elemMatch": {"score": {"$gt": 5}}}, "joined": 1, "lastLogin": 1},
        {
            "_id": 1,
            "joined": dt.datetime(2020, 1, 1),
            "lastLogin": dt.datetime(2020, 5, 1),
            "games": [{"game": "abc", "score": 8}],
        },
    ),  # fmt: skip
    _case(
        "elem_match_value_form", POSTS, {"comments": {"$elemMatch": {"$gt": 3}}}, {"_id": 1, "comments": [4]}
    ),
    _case(
        "error_elem_match_nested_field",
        SCHOOL,
        {"a.students": {"$elemMatch": {"school": 102}}},
        QueryError,
    ),
    _case("error_elem_match_not_document", SCHOOL, {"students": {"$elemMatch": 102}}, QueryError),
    # ----- positional $ (projection) page -----
    _case(
        "positional_first_matching_scalar",
        {"_id": 1, "semester": 1, "grades": [70, 87, 90]},
        {"grades.$": 1},
        {"_id": 1, "grades": [87]},
        filter={"semester": 1, "grades": {"$gte": 85}},
    ),
    _case(
        "positional_first_element_matches",
        {"_id": 3, "semester": 1, "grades": [85, 100, 90]},
        {"grades.$": 1},
        {"_id": 3, "grades": [85]},
        filter={"semester": 1, "grades": {"$gte": 85}},
    ),
    _case(
        "positional_array_of_documents",
        {
            "_id": 7,
            "semester": 3,
            "grades": [
                {"grade": 80, "mean": 75, "std": 8},
                {"grade": 85, "mean": 90, "std": 5},
                {"grade": 85, "mean": 85, "std": 8},
            ],
        },
        {"grades.$": 1},
        {"_id": 7, "grades": [{"grade": 80, "mean": 75, "std": 8}]},
        filter={"grades.mean": {"$gt": 70}},
    ),  # fmt: skip
    _case(
        "positional_with_elem_match_query",
        {
            "_id": 7,
            "grades": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 90}, {"grade": 85, "mean": 85}],
        },
        {"grades.$": 1},
        {"_id": 7, "grades": [{"grade": 85, "mean": 85}]},
        filter={"grades": {"$elemMatch": {"mean": {"$lt": 90}, "grade": {"$gt": 80}}}},
    ),
    _case(
        "positional_with_other_inclusions",
        {"_id": 1, "semester": 1, "grades": [70, 87, 90]},
        {"semester": 1, "grades.$": 1},
        {"_id": 1, "semester": 1, "grades": [87]},
        filter={"grades": {"$gte": 85}},
    ),
    _case(
        "error_positional_without_array_condition",
        JOURNAL,
        {"instock.$": 1},
        QueryError,
        filter={"item": "journal"},
    ),
    _case(
        "error_positional_twice",
        JOURNAL,
        {"instock.$": 1, "size.$": 1},
        QueryError,
        filter={"instock.qty": 5, "size.h": 14},
    ),
    _case(
        "error_positional_and_elem_match",
        SCHOOL,
        {"students.$": 1, "zipcode": {"$elemMatch": {"a": 1}}},
        QueryError,
        filter={"students.school": 102},
    ),
    # ----- invalid projections -----
    _case("error_mixed_inclusion_then_exclusion", JOURNAL, {"item": 1, "status": 0}, QueryError),
    _case("error_mixed_exclusion_then_inclusion", JOURNAL, {"status": 0, "item": 1}, QueryError),
    _case("error_path_collision_parent_first", JOURNAL, {"size": 1, "size.uom": 1}, QueryError),
    _case("error_path_collision_child_first", JOURNAL, {"size.uom": 1, "size": 1}, QueryError),
    _case("error_expression_in_exclusion", JOURNAL, {"status": 0, "unit": "$size.uom"}, QueryError),
    _case("error_nested_id_exclusion_in_inclusion", JOURNAL, {"item": 1, "size._id": 0}, QueryError),
    _case("error_unknown_expression", JOURNAL, {"x": {"$nope": 1}}, QueryError),
    _case(
        "error_dollar_field_name",
        JOURNAL,
        {"$item": 1},
        QueryError,
    ),
]

"""String expression operators: $concat, substrings, case, length, split, trim, search, regex, replace.

``…Bytes`` operators count UTF-8 bytes and ``…CP`` operators count code points, as MongoDB does.
``$toLower``/``$toUpper``/``$strcasecmp`` map ASCII letters only (MongoDB's documented behaviour)
and, with ``$substr``/``$substrBytes``/``$substrCP``, turn numbers and dates into strings and null
into "". Regular expressions are PCRE translated by ``query.regex`` (shared with ``$regex`` filters),
with the i/m/s/x options.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128, Regex

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import MISSING
from mindtrace.database.query.expr_operands import (
    Compiler,
    Constant,
    Evaluator,
    OperatorCompiler,
    Variables,
    bson_type_name,
    compile_operands,
    integral_value,
    is_nullish,
)
from mindtrace.database.query.regex import compile_regex, regex_value_parts

__all__ = ["OPERATORS", "coerce_to_string", "format_date_iso", "format_double", "regex_from"]

_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WHITESPACE: Final = (
    "\u0000 \t\n\u000b\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def format_double(value: float) -> str:
    """A double as MongoDB prints it: shortest round-trip digits, no trailing ".0"."""
    if value != value:  # noqa: PLR0124 - NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def format_date_iso(value: dt.date) -> str:
    """A date as MongoDB's default string form, ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    elif value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def coerce_to_string(name: str, value: Any) -> str:
    """MongoDB's string coercion for string operators: null/missing are "", numbers and dates print.

    Raises QueryError naming ``name`` for arrays, documents and other types.
    """
    if isinstance(value, str):
        return value
    if is_nullish(value):
        return ""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return str(int(value))
    elif isinstance(value, float):
        return f"{value:g}"  # C's %g (6 significant digits, "inf", "nan"), as MongoDB's coercion prints
    elif isinstance(value, Decimal | Decimal128):
        return str(value)
    elif isinstance(value, dt.date):
        return format_date_iso(value)
    raise QueryError(f"{name}: can't convert from BSON type {bson_type_name(value)} to String", operator=name)


def _compile_concat(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def concat(doc: Any, variables: Variables) -> Any:
        parts = []
        for ev in operands:
            value = ev(doc, variables)
            if is_nullish(value):
                return None  # left to right, like MongoDB: later operands are not type-checked
            if not isinstance(value, str):
                raise QueryError(f"$concat only supports strings, not {bson_type_name(value)}", operator=name)
            parts.append(value)
        return "".join(parts)

    return concat


def _compile_substr_bytes(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    text_ev, start_ev, length_ev = compile_operands(name, arg, compiler, 3)

    def substr_bytes(doc: Any, variables: Variables) -> Any:
        data = coerce_to_string(name, text_ev(doc, variables)).encode()
        start = _numeric_index(name, start_ev(doc, variables), "starting index")
        length = _numeric_index(name, length_ev(doc, variables), "length")
        if start < 0:
            raise QueryError(f"{name}: starting index must be non-negative (got: {start})", operator=name)
        if start >= len(data):
            return ""
        end = len(data) if length < 0 else min(len(data), start + length)  # negative length: the rest
        if _is_continuation(data, start):
            raise QueryError(
                f"{name}: invalid range, starting index is a UTF-8 continuation byte", operator=name
            )
        if end < len(data) and _is_continuation(data, end):
            raise QueryError(
                f"{name}: invalid range, ending index is in the middle of a UTF-8 character", operator=name
            )
        return data[start:end].decode()

    return substr_bytes


def _is_continuation(data: bytes, index: int) -> bool:
    return (data[index] & 0xC0) == 0x80


def _numeric_index(name: str, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Decimal128):
        raise QueryError(f"{name}: {what} must be a numeric type, not {bson_type_name(value)}", operator=name)
    number = value.to_decimal() if isinstance(value, Decimal128) else value
    if number != number:  # noqa: PLR0124 - NaN
        return 0
    return int(number)


def _compile_substr_cp(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    text_ev, start_ev, length_ev = compile_operands(name, arg, compiler, 3)

    def substr_cp(doc: Any, variables: Variables) -> Any:
        text = coerce_to_string(name, text_ev(doc, variables))
        start = integral_value(name, start_ev(doc, variables), "the starting index")
        length = integral_value(name, length_ev(doc, variables), "the length")
        if length < 0:
            raise QueryError(f"{name}: length must be a nonnegative integer", operator=name)
        if start < 0:
            raise QueryError(f"{name}: the starting index must be a nonnegative integer", operator=name)
        return text[start : start + length]

    return substr_cp


def _compile_case(table: dict[int, int]) -> OperatorCompiler:
    def compile_case(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        (operand,) = compile_operands(name, arg, compiler, 1)

        def case(doc: Any, variables: Variables) -> Any:
            return coerce_to_string(name, operand(doc, variables)).translate(table)

        return case

    return compile_case


def _compile_str_len(count: Callable[[str], int]) -> OperatorCompiler:
    def compile_str_len(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        (operand,) = compile_operands(name, arg, compiler, 1)

        def str_len(doc: Any, variables: Variables) -> Any:
            value = operand(doc, variables)
            if not isinstance(value, str):
                raise QueryError(
                    f"{name} requires a string argument, found: {bson_type_name(value)}", operator=name
                )
            return count(value)

        return str_len

    return compile_str_len


def _compile_split(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    text_ev, sep_ev = compile_operands(name, arg, compiler, 2)

    def split(doc: Any, variables: Variables) -> Any:
        text, sep = text_ev(doc, variables), sep_ev(doc, variables)
        if is_nullish(text) or is_nullish(sep):
            return None
        if not isinstance(text, str):
            raise QueryError(
                f"$split requires an expression that evaluates to a string as a first argument, "
                f"found: {bson_type_name(text)}",
                operator=name,
            )
        if not isinstance(sep, str):
            raise QueryError(
                f"$split requires an expression that evaluates to a string as a second argument, "
                f"found: {bson_type_name(sep)}",
                operator=name,
            )
        if not sep:
            raise QueryError("$split requires a non-empty separator", operator=name)
        return text.split(sep)

    return split


def _named_args(name: str, arg: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise QueryError(
            f"{name} requires an object as an argument, with fields {sorted(required | optional)}",
            operator=name,
        )
    unknown = set(arg) - required - optional
    if unknown:
        raise QueryError(f"{name}: unrecognized argument '{sorted(unknown)[0]}'", operator=name)
    for key in sorted(required):
        if key not in arg:
            raise QueryError(f"{name} requires an '{key}' argument", operator=name)
    return arg


def _compile_trim(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named_args(name, arg, {"input"}, {"chars"})
    input_ev = compiler.compile(spec["input"])
    chars_ev = compiler.compile(spec["chars"]) if "chars" in spec else Constant(_WHITESPACE)
    strip: Callable[[str, str], str] = {"$trim": str.strip, "$ltrim": str.lstrip, "$rtrim": str.rstrip}[name]

    def trim(doc: Any, variables: Variables) -> Any:
        value, chars = input_ev(doc, variables), chars_ev(doc, variables)
        if is_nullish(value) or is_nullish(chars):
            return None
        if not isinstance(value, str):
            raise QueryError(
                f"{name} requires its input to be a string, got {value!r} (of type "
                f"{bson_type_name(value)}) instead",
                operator=name,
            )
        if not isinstance(chars, str):
            raise QueryError(
                f"{name} requires 'chars' to be a string, got {chars!r} (of type "
                f"{bson_type_name(chars)}) instead",
                operator=name,
            )
        return strip(value, chars)

    return trim


def _compile_index_of(by_bytes: bool) -> OperatorCompiler:
    def compile_index_of(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        operands = compile_operands(name, arg, compiler, 2, 4)

        def index_of(doc: Any, variables: Variables) -> Any:
            text = operands[0](doc, variables)
            if is_nullish(text):
                return None
            if not isinstance(text, str):
                raise QueryError(
                    f"{name} requires a string as the first argument, found: {bson_type_name(text)}",
                    operator=name,
                )
            sub = operands[1](doc, variables)
            if not isinstance(sub, str):
                raise QueryError(
                    f"{name} requires a string as the second argument, found: {bson_type_name(sub)}",
                    operator=name,
                )
            haystack: str | bytes = text.encode() if by_bytes else text
            needle: str | bytes = sub.encode() if by_bytes else sub
            start, end = 0, len(haystack)
            if len(operands) > 2:
                start = _bound(name, operands[2](doc, variables), "starting index")
            if len(operands) > 3:
                end = _bound(name, operands[3](doc, variables), "ending index")
            if start > len(haystack) or start > end:
                return -1
            return haystack.find(needle, start, end)  # type: ignore[arg-type]

        return index_of

    return compile_index_of


def _bound(name: str, value: Any, what: str) -> int:
    index = integral_value(name, value, f"the {what}")
    if index < 0:
        raise QueryError(f"{name} requires a nonnegative {what}, found: {index}", operator=name)
    return index


def regex_from(name: str, pattern: Any, options: Any) -> re.Pattern[str]:
    """Compile a MongoDB regex (string, ``bson.Regex`` or ``re.Pattern``) with option letters.

    Patterns are PCRE syntax, translated by ``query.regex`` exactly as ``$regex`` filters are.
    Raises QueryError for invalid options, options given twice, or a pattern that cannot run.
    """
    if is_nullish(options):
        options = ""
    if not isinstance(options, str):
        raise QueryError(
            f"{name} needs 'options' to be of type string, not {bson_type_name(options)}", operator=name
        )
    if isinstance(pattern, re.Pattern | Regex):
        parts = regex_value_parts(pattern)
        if parts is None:
            raise QueryError(f"{name}: byte-string regular expressions are not supported", operator=name)
        embedded = parts[1].replace("l", "")
        if embedded and options:
            raise QueryError(
                f"{name}: options can't be given both in the regex and in 'options'", operator=name
            )
        if isinstance(pattern, re.Pattern):
            return pattern  # already Python syntax
        pattern, options = parts[0], embedded or options
    if not isinstance(pattern, str):
        raise QueryError(
            f"{name} needs 'regex' to be of type string or regex, not {bson_type_name(pattern)}",
            operator=name,
        )
    if "\x00" in pattern:
        raise QueryError(f"{name}: regular expression cannot contain an embedded null byte", operator=name)
    return compile_regex(pattern, options, operator=name)


def _compile_regex(mode: str) -> OperatorCompiler:
    def compile_regex(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        spec = _named_args(name, arg, {"input", "regex"}, {"options"})
        input_ev = compiler.compile(spec["input"])
        regex_ev = compiler.compile(spec["regex"])
        options_ev = compiler.compile(spec["options"]) if "options" in spec else Constant(MISSING)
        fixed: re.Pattern[str] | None = None
        if (
            isinstance(regex_ev, Constant)
            and isinstance(options_ev, Constant)
            and not is_nullish(regex_ev.value)
        ):
            fixed = regex_from(name, regex_ev.value, options_ev.value)  # compiled once

        def regex(doc: Any, variables: Variables) -> Any:
            value = input_ev(doc, variables)
            if fixed is not None:
                pattern = fixed
            else:
                raw = regex_ev(doc, variables)
                if is_nullish(raw):
                    return _no_match(mode)
                pattern = regex_from(name, raw, options_ev(doc, variables))
            if is_nullish(value):
                return _no_match(mode)
            if not isinstance(value, str):
                raise QueryError(
                    f"{name} needs 'input' to be of type string, not {bson_type_name(value)}", operator=name
                )
            if mode == "match":
                return pattern.search(value) is not None
            if mode == "find":
                found = pattern.search(value)
                return None if found is None else _match_document(found)
            return [_match_document(m) for m in pattern.finditer(value)]

        return regex

    return compile_regex


def _no_match(mode: str) -> Any:
    return {"match": False, "find": None, "all": []}[mode]


def _match_document(found: re.Match[str]) -> dict[str, Any]:
    return {"match": found.group(0), "idx": found.start(), "captures": list(found.groups())}


def _compile_replace(count: int) -> OperatorCompiler:
    def compile_replace(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        spec = _named_args(name, arg, {"input", "find", "replacement"}, set())
        evs = [(key, compiler.compile(spec[key])) for key in ("input", "find", "replacement")]

        def replace(doc: Any, variables: Variables) -> Any:
            values = []
            null = False
            for key, ev in evs:
                value = ev(doc, variables)
                if is_nullish(value):
                    null = True
                elif not isinstance(value, str):
                    raise QueryError(
                        f"{name} requires that '{key}' be a string, found: {bson_type_name(value)}",
                        operator=name,
                    )
                values.append(value)
            if null:
                return None
            text, find, replacement = values
            return text.replace(find, replacement, count)

        return replace

    return compile_replace


def _compile_strcasecmp(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    left, right = compile_operands(name, arg, compiler, 2)

    def strcasecmp(doc: Any, variables: Variables) -> Any:
        a = coerce_to_string(name, left(doc, variables)).translate(_UPPER)
        b = coerce_to_string(name, right(doc, variables)).translate(_UPPER)
        return (a > b) - (a < b)

    return strcasecmp


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$concat": _compile_concat,
    "$substr": _compile_substr_bytes,
    "$substrBytes": _compile_substr_bytes,
    "$substrCP": _compile_substr_cp,
    "$toLower": _compile_case(_LOWER),
    "$toUpper": _compile_case(_UPPER),
    "$strLenCP": _compile_str_len(len),
    "$strLenBytes": _compile_str_len(lambda s: len(s.encode())),
    "$split": _compile_split,
    "$trim": _compile_trim,
    "$ltrim": _compile_trim,
    "$rtrim": _compile_trim,
    "$indexOfCP": _compile_index_of(by_bytes=False),
    "$indexOfBytes": _compile_index_of(by_bytes=True),
    "$regexMatch": _compile_regex("match"),
    "$regexFind": _compile_regex("find"),
    "$regexFindAll": _compile_regex("all"),
    "$replaceOne": _compile_replace(1),
    "$replaceAll": _compile_replace(-1),
    "$strcasecmp": _compile_strcasecmp,
}

"""Date expression operators: parts ($year … $isoWeek), formatting, parsing, truncation, arithmetic.

Dates are BSON dates: instants with millisecond precision. Naive datetimes mean UTC, a plain
``date`` is midnight UTC, an ObjectId stands for its creation time and a Timestamp for its
seconds. Results are timezone-aware UTC datetimes truncated to milliseconds. A ``timezone``
argument is an IANA name (``"Europe/Paris"``, via zoneinfo) or an offset (``"+05:30"``,
``"-0800"``, ``"+03"``); parts, truncation and calendar arithmetic then happen in that zone's
wall-clock time, including its daylight-saving rules.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any, Final

from bson import ObjectId, Timestamp

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.expr_arithmetic import as_utc_datetime, epoch_millis, from_epoch_millis
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

__all__ = ["OPERATORS", "parse_date_string", "to_date"]

_OFFSET: Final = re.compile(r"^([+-])([0-9]{2})(?::?([0-9]{2}))?$")
_DEFAULT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%LZ"
_MONTHS: Final = [calendar.month_name[i] for i in range(1, 13)]
_MONTH_ABBR: Final = [calendar.month_abbr[i] for i in range(1, 13)]
_DAYS: Final = {
    name: index
    for index, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue"),
            ("wednesday", "wed"),
            ("thursday", "thu"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_UNITS: Final = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")
_FIXED_MILLIS: Final = {
    "week": 604_800_000,
    "day": 86_400_000,
    "hour": 3_600_000,
    "minute": 60_000,
    "second": 1000,
    "millisecond": 1,
}
_REFERENCE: Final = dt.datetime(2000, 1, 1)


def _truncate_ms(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_date(name: str, value: Any) -> dt.datetime:
    """The UTC instant a date-like value stands for; QueryError naming ``name`` for other types."""
    if isinstance(value, dt.datetime) and (value.tzinfo is None or value.tzinfo is dt.UTC):
        # The common case, in one replace(): a naive (UTC) or UTC datetime.
        return value.replace(tzinfo=dt.UTC, microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dt.date):
        return _truncate_ms(as_utc_datetime(value))
    if isinstance(value, ObjectId):
        return value.generation_time
    if isinstance(value, Timestamp):
        return dt.datetime.fromtimestamp(value.time, dt.UTC)
    raise QueryError(f"{name}: can't convert from BSON type {bson_type_name(value)} to Date", operator=name)


def parse_timezone(name: str, value: Any) -> dt.tzinfo:
    """A tzinfo for an IANA zone name or a ±HH[:MM] offset; QueryError when unrecognised."""
    if not isinstance(value, str):
        raise QueryError(
            f"{name}: timezone must evaluate to a string, found {bson_type_name(value)}", operator=name
        )
    if value in ("UTC", "GMT", "Z", "Etc/UTC"):
        return dt.UTC
    offset = _OFFSET.match(value)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta >= dt.timedelta(hours=24):
            raise QueryError(f'{name}: unrecognized time zone identifier: "{value}"', operator=name)
        return dt.timezone(-delta if sign == "-" else delta)
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise QueryError(
            f'{name}: unrecognized time zone identifier: "{value}"; use an IANA name such as '
            '"America/New_York" or an offset such as "+05:30"',
            operator=name,
        ) from e


def _local(instant: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    """Wall-clock time in ``tz`` as a naive datetime (UTC when tz is None)."""
    if tz is None or tz is dt.UTC:
        return instant.replace(tzinfo=None)
    return instant.astimezone(tz).replace(tzinfo=None)


def _instant(local: dt.datetime, tz: dt.tzinfo | None, name: str) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``tz`` (the earlier one when DST makes it ambiguous)."""
    try:
        aware = local.replace(tzinfo=tz or dt.UTC)
        return _truncate_ms(aware.astimezone(dt.UTC))
    except OverflowError as e:
        raise QueryError(f"{name}: the resulting date is out of range", operator=name) from e


def _utc_offset_minutes(instant: dt.datetime, tz: dt.tzinfo | None) -> int:
    if tz is None:
        return 0
    offset = instant.astimezone(tz).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 60)


def _date_and_timezone(
    name: str, arg: Any, compiler: Compiler
) -> tuple[Evaluator, Evaluator | None, dict[str, Any]]:
    if isinstance(arg, dict) and arg and not next(iter(arg)).startswith("$"):
        if "date" not in arg:
            raise QueryError(f"{name}: missing 'date' parameter", operator=name)
        unknown = set(arg) - {"date", "timezone"}
        if unknown:
            raise QueryError(f"{name}: unrecognized option '{sorted(unknown)[0]}'", operator=name)
        tz = compiler.compile(arg["timezone"]) if "timezone" in arg else None
        return compiler.compile(arg["date"]), tz, arg
    (date_ev,) = compile_operands(name, arg, compiler, 1)
    return date_ev, None, {}


TimezoneResolver = Callable[[Any, Variables], "dt.tzinfo | bool | None"]
"""Yields the zone to use: None for UTC, False when the timezone expression is null (result null)."""


def _timezone_resolver(name: str, tz_ev: Evaluator | None) -> TimezoneResolver:
    if tz_ev is None:
        return lambda doc, variables: None
    if isinstance(tz_ev, Constant):
        if is_nullish(tz_ev.value):
            return lambda doc, variables: False
        fixed = parse_timezone(name, tz_ev.value)  # a constant zone is parsed (and checked) once
        return lambda doc, variables: fixed

    def resolve(doc: Any, variables: Variables) -> dt.tzinfo | bool | None:
        value = tz_ev(doc, variables)
        if is_nullish(value):
            return False
        return parse_timezone(name, value)

    return resolve


def _date_part(extract: Callable[[dt.datetime], int]) -> OperatorCompiler:
    def compile_part(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        date_ev, tz_ev, _ = _date_and_timezone(name, arg, compiler)
        timezone = _timezone_resolver(name, tz_ev)

        def part(doc: Any, variables: Variables) -> Any:
            value = date_ev(doc, variables)
            tz = timezone(doc, variables)
            if is_nullish(value) or tz is False:
                return None
            if tz is None and value.__class__ is dt.datetime and value.tzinfo in (None, dt.UTC):
                return extract(value)  # a naive or UTC datetime already shows UTC wall-clock parts
            return extract(_local(to_date(name, value), _zone(tz)))

        return part

    return compile_part


def _zone(tz: dt.tzinfo | bool | None) -> dt.tzinfo | None:
    return tz if isinstance(tz, dt.tzinfo) else None


def _week(local: dt.datetime) -> int:
    # Weeks start on Sunday; days before the year's first Sunday are in week 0 (strftime's %U).
    yday0 = local.timetuple().tm_yday - 1
    wday = local.isoweekday() % 7
    return (yday0 + 7 - wday) // 7


def _format_date(name: str, instant: dt.datetime, fmt: str, tz: dt.tzinfo | None) -> str:
    local = _local(instant, tz)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise QueryError(f"{name}: unmatched '%' at end of format string", operator=name)
        spec = fmt[i + 1]
        i += 2
        iso = local.isocalendar()
        if spec == "%":
            out.append("%")
        elif spec == "Y":
            out.append(f"{local.year:04d}")
        elif spec == "m":
            out.append(f"{local.month:02d}")
        elif spec == "d":
            out.append(f"{local.day:02d}")
        elif spec == "H":
            out.append(f"{local.hour:02d}")
        elif spec == "M":
            out.append(f"{local.minute:02d}")
        elif spec == "S":
            out.append(f"{local.second:02d}")
        elif spec == "L":
            out.append(f"{local.microsecond // 1000:03d}")
        elif spec == "j":
            out.append(f"{local.timetuple().tm_yday:03d}")
        elif spec == "w":
            out.append(str(local.isoweekday() % 7 + 1))
        elif spec == "u":
            out.append(str(iso.weekday))
        elif spec == "U":
            out.append(f"{_week(local):02d}")
        elif spec == "V":
            out.append(f"{iso.week:02d}")
        elif spec == "G":
            out.append(f"{iso.year:04d}")
        elif spec == "z":
            minutes = _utc_offset_minutes(instant, tz)
            sign = "-" if minutes < 0 else "+"
            out.append(f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}")
        elif spec == "Z":
            out.append(str(_utc_offset_minutes(instant, tz)))  # no "+" sign, as MongoDB prints it
        elif spec == "b":
            out.append(_MONTH_ABBR[local.month - 1])
        elif spec == "B":
            out.append(_MONTHS[local.month - 1])
        else:
            raise QueryError(f"{name}: invalid format character '%{spec}' in format string", operator=name)
    return "".join(out)


def _named(name: str, arg: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise QueryError(f"{name} only supports an object as its argument", operator=name)
    unknown = set(arg) - required - optional
    if unknown:
        raise QueryError(f"{name}: unrecognized argument '{sorted(unknown)[0]}'", operator=name)
    for key in sorted(required):
        if key not in arg:
            raise QueryError(f"{name}: missing '{key}' parameter", operator=name)
    return arg


def _optional(compiler: Compiler, spec: dict[str, Any], key: str) -> Evaluator | None:
    return compiler.compile(spec[key]) if key in spec else None


def _compile_date_to_string(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"date"}, {"format", "timezone", "onNull"})
    date_ev = compiler.compile(spec["date"])
    format_ev = _optional(compiler, spec, "format")
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    on_null = _optional(compiler, spec, "onNull")
    if isinstance(format_ev, Constant) and isinstance(format_ev.value, str):
        _format_date(name, _REFERENCE.replace(tzinfo=dt.UTC), format_ev.value, None)  # reject bad formats now

    def date_to_string(doc: Any, variables: Variables) -> Any:
        value = date_ev(doc, variables)
        fmt: Any = _DEFAULT_FORMAT
        if format_ev is not None:
            fmt = format_ev(doc, variables)
            if is_nullish(fmt):
                return None
            if not isinstance(fmt, str):
                raise QueryError(
                    f"$dateToString requires that 'format' be a string, found: {bson_type_name(fmt)}",
                    operator=name,
                )
        tz = timezone(doc, variables)
        if tz is False:
            return None
        if is_nullish(value):
            return on_null(doc, variables) if on_null is not None else None
        return _format_date(name, to_date(name, value), fmt, _zone(tz))

    return date_to_string


_FORMAT_PATTERNS: Final = {
    "Y": r"(?P<Y>[0-9]{4})",
    "m": r"(?P<m>[0-9]{1,2})",
    "d": r"(?P<d>[0-9]{1,2})",
    "H": r"(?P<H>[0-9]{1,2})",
    "M": r"(?P<M>[0-9]{1,2})",
    "S": r"(?P<S>[0-9]{1,2})",
    "L": r"(?P<L>[0-9]{1,3})",
    "j": r"(?P<j>[0-9]{1,3})",
    "G": r"(?P<G>[0-9]{4})",
    "V": r"(?P<V>[0-9]{1,2})",
    "u": r"(?P<u>[1-7])",
    "z": r"(?P<z>[+-][0-9]{2}:?[0-9]{2})",
    "Z": r"(?P<Z>[+-][0-9]{1,4})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "B": r"(?P<B>[A-Za-z]+)",
}

_ISO_STRING: Final = re.compile(
    r"^\s*(?P<Y>[0-9]{4})[-/](?P<m>[0-9]{1,2})[-/](?P<d>[0-9]{1,2})"
    r"(?:[T ](?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<F>[0-9]+))?)?)?"
    r"\s*(?P<tz>Z|[+-][0-9]{2}(?::?[0-9]{2})?|(?:UTC|GMT)(?:[+-][0-9]{1,2}(?::?[0-9]{2})?)?|[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+)?\s*$"
)


def _format_regex(name: str, fmt: str) -> re.Pattern[str]:
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            parts.append(re.escape(ch))
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise QueryError(f"{name}: unmatched '%' at end of format string", operator=name)
        spec = fmt[i + 1]
        i += 2
        if spec == "%":
            parts.append("%")
        elif spec in _FORMAT_PATTERNS:
            if spec in seen:
                raise QueryError(f"{name}: format specifier '%{spec}' appears twice", operator=name)
            seen.add(spec)
            parts.append(_FORMAT_PATTERNS[spec])
        else:
            raise QueryError(f"{name}: invalid format character '%{spec}' in format string", operator=name)
    return re.compile("^" + "".join(parts) + "$")


def _month_from_name(text: str) -> int:
    lowered = text.lower()
    for index, (full, abbr) in enumerate(zip(_MONTHS, _MONTH_ABBR, strict=True)):
        if lowered in (full.lower(), abbr.lower()):
            return index + 1
    raise ValueError(f"unknown month name {text!r}")


def parse_date_string(name: str, text: str, fmt: str | None, tz: dt.tzinfo | None) -> dt.datetime:
    """Parse ``text`` (ISO 8601-like, or per ``fmt``'s %-specifiers) into a UTC instant.

    ``tz`` applies when the string names no zone; naming both is an error, as in MongoDB.
    Raises QueryError "error parsing date string …" when the text does not match.
    """
    pattern = _ISO_STRING if fmt is None else _format_regex(name, fmt)
    found = pattern.match(text)
    if found is None:
        raise QueryError(
            f"{name}: error parsing date string '{text}'"
            + (
                f" with format '{fmt}'"
                if fmt is not None
                else "; use ISO 8601, e.g. 2017-02-08T12:10:40.787Z"
            ),
            operator=name,
        )
    g = {k: v for k, v in found.groupdict().items() if v is not None}
    try:
        if "G" in g or "V" in g or "u" in g:
            day = dt.date.fromisocalendar(int(g.get("G", 0)), int(g.get("V", 1)), int(g.get("u", 1)))
        elif "j" in g and "m" not in g:
            day = dt.date(int(g["Y"]), 1, 1) + dt.timedelta(days=int(g["j"]) - 1)
        else:
            month = int(g["m"]) if "m" in g else _month_from_name(g.get("b") or g.get("B") or "Jan")
            day = dt.date(int(g.get("Y", 1970)), month, int(g.get("d", 1)))
        fraction = g.get("F") or (g["L"].rjust(3, "0") if "L" in g else "0")
        micros = int((fraction + "000000")[:6])
        local = dt.datetime(
            day.year, day.month, day.day, int(g.get("H", 0)), int(g.get("M", 0)), int(g.get("S", 0)), micros
        )
    except (ValueError, KeyError) as e:
        raise QueryError(f"{name}: error parsing date string '{text}': {e}", operator=name) from e
    embedded: dt.tzinfo | None = None
    if "tz" in g:
        zone = g["tz"]
        embedded = parse_timezone(name, zone[3:] or "UTC" if zone[:3] in ("UTC", "GMT") else zone)
    elif "z" in g:
        embedded = parse_timezone(name, g["z"])
    elif "Z" in g:
        embedded = dt.timezone(dt.timedelta(minutes=int(g["Z"])))
    if embedded is not None and tz is not None:
        raise QueryError(
            f"{name}: you cannot pass in a date/time string with a time zone together with a timezone "
            "argument",
            operator=name,
        )
    return _instant(local, embedded or tz, name)


def _compile_date_from_string(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"dateString"}, {"format", "timezone", "onError", "onNull"})
    text_ev = compiler.compile(spec["dateString"])
    format_ev = _optional(compiler, spec, "format")
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    on_error = _optional(compiler, spec, "onError")
    on_null = _optional(compiler, spec, "onNull")
    if isinstance(format_ev, Constant) and isinstance(format_ev.value, str):
        _format_regex(name, format_ev.value)  # reject bad formats now

    def date_from_string(doc: Any, variables: Variables) -> Any:
        text = text_ev(doc, variables)
        fmt = format_ev(doc, variables) if format_ev is not None else None
        tz = timezone(doc, variables)
        if tz is False or (format_ev is not None and is_nullish(fmt)):
            return None
        if fmt is not None and not isinstance(fmt, str):
            raise QueryError(
                f"{name} requires that 'format' be a string, found: {bson_type_name(fmt)}", operator=name
            )
        if is_nullish(text):
            return on_null(doc, variables) if on_null is not None else None
        try:
            if not isinstance(text, str):
                raise QueryError(
                    f"{name} requires that 'dateString' be a string, found: {bson_type_name(text)}",
                    operator=name,
                )
            return parse_date_string(name, text, fmt, _zone(tz))
        except QueryError:
            if on_error is None:
                raise
            return on_error(doc, variables)

    return date_from_string


_PART_LIMIT: Final = 32767


def _compile_date_from_parts(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    calendar_keys = {"year", "month", "day"}
    iso_keys = {"isoWeekYear", "isoWeek", "isoDayOfWeek"}
    time_keys = {"hour", "minute", "second", "millisecond", "timezone"}
    if not isinstance(arg, dict):
        raise QueryError(f"{name} only supports an object as its argument", operator=name)
    unknown = set(arg) - calendar_keys - iso_keys - time_keys
    if unknown:
        raise QueryError(f"{name}: unrecognized argument '{sorted(unknown)[0]}'", operator=name)
    iso = bool(set(arg) & iso_keys)
    if iso and set(arg) & calendar_keys:
        raise QueryError(
            f"{name}: do not mix calendar fields (year/month/day) with ISO week fields", operator=name
        )
    first = "isoWeekYear" if iso else "year"
    if first not in arg:
        raise QueryError(f"{name} requires '{first}' to be present", operator=name)
    order = ["isoWeekYear", "isoWeek", "isoDayOfWeek"] if iso else ["year", "month", "day"]
    order += ["hour", "minute", "second", "millisecond"]
    defaults = {"month": 1, "day": 1, "isoWeek": 1, "isoDayOfWeek": 1}
    parts = [
        (key, compiler.compile(arg[key]) if key in arg else Constant(defaults.get(key, 0))) for key in order
    ]
    timezone = _timezone_resolver(name, _optional(compiler, arg, "timezone"))

    def date_from_parts(doc: Any, variables: Variables) -> Any:
        values: dict[str, int] = {}
        null = False
        for key, ev in parts:
            value = ev(doc, variables)
            if is_nullish(value):
                null = True
                continue
            number = integral_value(name, value, f"'{key}'", bits=64)
            if key in ("year", "isoWeekYear"):
                if not 1 <= number <= 9999:
                    raise QueryError(
                        f"{name}: '{key}' must evaluate to an integer in the range 1 to 9999, found {number}",
                        operator=name,
                    )
            elif not -_PART_LIMIT - 1 <= number <= _PART_LIMIT:
                raise QueryError(
                    f"{name}: '{key}' must evaluate to a value in the range [-32768, 32767], found {number}",
                    operator=name,
                )
            values[key] = number
        tz = timezone(doc, variables)
        if null or tz is False:
            return None
        try:
            if iso:
                start = dt.datetime.combine(dt.date.fromisocalendar(values["isoWeekYear"], 1, 1), dt.time())
                start += dt.timedelta(weeks=values["isoWeek"] - 1, days=values["isoDayOfWeek"] - 1)
            else:
                year, month0 = divmod(values["year"] * 12 + values["month"] - 1, 12)
                start = dt.datetime(year, month0 + 1, 1) + dt.timedelta(days=values["day"] - 1)
            local = start + dt.timedelta(
                hours=values["hour"],
                minutes=values["minute"],
                seconds=values["second"],
                milliseconds=values["millisecond"],
            )
        except (ValueError, OverflowError) as e:
            raise QueryError(f"{name}: the resulting date is out of range: {e}", operator=name) from e
        return _instant(local, _zone(tz), name)

    return date_from_parts


def _compile_date_to_parts(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"date"}, {"timezone", "iso8601"})
    date_ev = compiler.compile(spec["date"])
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    iso_ev = _optional(compiler, spec, "iso8601")

    def date_to_parts(doc: Any, variables: Variables) -> Any:
        value = date_ev(doc, variables)
        tz = timezone(doc, variables)
        iso = iso_ev(doc, variables) if iso_ev is not None else False
        if is_nullish(iso):
            return None
        if not isinstance(iso, bool):
            raise QueryError(
                f"{name}: iso8601 must evaluate to a bool, found {bson_type_name(iso)}", operator=name
            )
        if is_nullish(value) or tz is False:
            return None
        local = _local(to_date(name, value), _zone(tz))
        time_parts = {
            "hour": local.hour,
            "minute": local.minute,
            "second": local.second,
            "millisecond": local.microsecond // 1000,
        }
        if iso:
            year, week, weekday = local.isocalendar()
            return {"isoWeekYear": year, "isoWeek": week, "isoDayOfWeek": weekday, **time_parts}
        return {"year": local.year, "month": local.month, "day": local.day, **time_parts}

    return date_to_parts


def _unit(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in _UNITS:
        raise QueryError(
            f"{name}: parameter 'unit' value cannot be recognized as a time unit: {value!r}; "
            f"use one of {', '.join(_UNITS)}",
            operator=name,
        )
    return value


def _start_of_week(name: str, value: Any) -> int:
    day = _DAYS.get(value.lower()) if isinstance(value, str) else None
    if day is None:
        raise QueryError(
            f"{name}: 'startOfWeek' must be a day name such as 'monday' or 'mon', got {value!r}",
            operator=name,
        )
    return day


def _add_months(local: dt.datetime, months: int) -> dt.datetime:
    year, month0 = divmod(local.year * 12 + local.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
    return local.replace(year=year, month=month0 + 1, day=day)


_MONTHS_PER_UNIT: Final = {"year": 12, "quarter": 3, "month": 1}


def _trunc_calendar(local: dt.datetime, unit: str, bin_size: int, week_start: int) -> dt.datetime:
    """Lower bound (wall-clock) of the day/week/month/quarter/year bin ``local`` falls in."""
    if unit in _MONTHS_PER_UNIT:
        months = (local.year - 2000) * 12 + local.month - 1
        span = _MONTHS_PER_UNIT[unit] * bin_size
        year, month0 = divmod(2000 * 12 + months // span * span, 12)
        return dt.datetime(year, month0 + 1, 1)
    reference = _REFERENCE.date()
    if unit == "week":
        reference += dt.timedelta(days=(week_start - reference.weekday()) % 7)
    span_days = bin_size * (7 if unit == "week" else 1)
    days = (local.date() - reference).days // span_days * span_days
    return dt.datetime.combine(reference + dt.timedelta(days=days), dt.time())


def _reference_millis(tz: dt.tzinfo | None) -> int:
    # 2000-01-01T00:00 in the zone, located with the zone's offset at 2000-01-01T00:00Z (as
    # MongoDB does); sub-day bins are counted from it on the UTC timeline.
    reference = _REFERENCE.replace(tzinfo=dt.UTC)
    offset = reference.astimezone(tz).utcoffset() if tz is not None else None
    return epoch_millis(reference) - (int(offset.total_seconds() * 1000) if offset else 0)


def _compile_date_trunc(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"date", "unit"}, {"binSize", "timezone", "startOfWeek"})
    date_ev, unit_ev = compiler.compile(spec["date"]), compiler.compile(spec["unit"])
    bin_ev = _optional(compiler, spec, "binSize") or Constant(1)
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    week_ev = _optional(compiler, spec, "startOfWeek") or Constant("sunday")

    def date_trunc(doc: Any, variables: Variables) -> Any:
        value, unit_value, bin_value = (
            date_ev(doc, variables),
            unit_ev(doc, variables),
            bin_ev(doc, variables),
        )
        tz = timezone(doc, variables)
        if is_nullish(value) or is_nullish(unit_value) or is_nullish(bin_value) or tz is False:
            return None
        unit = _unit(name, unit_value)
        bin_size = integral_value(name, bin_value, "'binSize'", bits=64)
        if bin_size <= 0:
            raise QueryError(
                f"{name} requires 'binSize' to be greater than 0, but got value {bin_size}", operator=name
            )
        week_start = 6
        if unit == "week":
            week_value = week_ev(doc, variables)
            if is_nullish(week_value):
                return None
            week_start = _start_of_week(name, week_value)
        instant = to_date(name, value)
        if unit in _FIXED_MILLIS and unit not in ("week", "day"):
            span = _FIXED_MILLIS[unit] * bin_size
            millis = epoch_millis(instant)
            return from_epoch_millis(millis - (millis - _reference_millis(_zone(tz))) % span, name)
        local = _local(instant, _zone(tz))
        return _instant(_trunc_calendar(local, unit, bin_size, week_start), _zone(tz), name)

    return date_trunc


def _compile_date_add(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"startDate", "unit", "amount"}, {"timezone"})
    start_ev, unit_ev, amount_ev = (compiler.compile(spec[k]) for k in ("startDate", "unit", "amount"))
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    sign = -1 if name == "$dateSubtract" else 1

    def date_add(doc: Any, variables: Variables) -> Any:
        start, unit_value, amount_value = (
            start_ev(doc, variables),
            unit_ev(doc, variables),
            amount_ev(doc, variables),
        )
        tz = timezone(doc, variables)
        if is_nullish(start) or is_nullish(unit_value) or is_nullish(amount_value) or tz is False:
            return None
        unit = _unit(name, unit_value)
        try:
            amount = integral_value(name, amount_value, "'amount'", bits=64) * sign
        except QueryError as e:
            raise QueryError(f"{name} expects an integer amount of time units: {e}", operator=name) from e
        instant = to_date(name, start)
        try:
            if unit in _MONTHS_PER_UNIT:
                local = _add_months(_local(instant, _zone(tz)), amount * _MONTHS_PER_UNIT[unit])
                return _instant(local, _zone(tz), name)
            if unit in ("week", "day"):
                days = amount * (7 if unit == "week" else 1)
                return _instant(_local(instant, _zone(tz)) + dt.timedelta(days=days), _zone(tz), name)
            return from_epoch_millis(epoch_millis(instant) + amount * _FIXED_MILLIS[unit], name)
        except (OverflowError, ValueError) as e:
            raise QueryError(f"{name}: the resulting date is out of range", operator=name) from e

    return date_add


def _compile_date_diff(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    spec = _named(name, arg, {"startDate", "endDate", "unit"}, {"timezone", "startOfWeek"})
    start_ev, end_ev, unit_ev = (compiler.compile(spec[k]) for k in ("startDate", "endDate", "unit"))
    timezone = _timezone_resolver(name, _optional(compiler, spec, "timezone"))
    week_ev = _optional(compiler, spec, "startOfWeek") or Constant("sunday")

    def date_diff(doc: Any, variables: Variables) -> Any:
        start, end, unit_value = start_ev(doc, variables), end_ev(doc, variables), unit_ev(doc, variables)
        tz = timezone(doc, variables)
        if is_nullish(start) or is_nullish(end) or is_nullish(unit_value) or tz is False:
            return None
        unit = _unit(name, unit_value)
        a, b = to_date(name, start), to_date(name, end)
        if unit in ("millisecond", "second", "minute"):
            # Zone offsets are whole minutes: these boundaries are the same in UTC and locally.
            span = _FIXED_MILLIS[unit]
            return epoch_millis(b) // span - epoch_millis(a) // span
        la, lb = _local(a, _zone(tz)), _local(b, _zone(tz))
        if unit == "hour":
            # Local hour boundaries (e.g. half past the hour in UTC+05:30), corrected for an offset
            # change between the two dates (DST) by whole hours toward zero, as MongoDB does.
            change = _utc_offset_minutes(a, _zone(tz)) - _utc_offset_minutes(b, _zone(tz))
            correction = int(change / 60)
            return (lb.date() - la.date()).days * 24 + lb.hour - la.hour + correction
        if unit in _MONTHS_PER_UNIT:
            span = _MONTHS_PER_UNIT[unit]
            return (lb.year * 12 + lb.month - 1) // span - (la.year * 12 + la.month - 1) // span
        if unit == "day":
            return (lb.date() - la.date()).days
        week_value = week_ev(doc, variables)
        if is_nullish(week_value):
            return None
        week_start = _start_of_week(name, week_value)

        def week_index(day: dt.date) -> int:
            return (day.toordinal() - week_start - 1) // 7  # ordinal 1 (0001-01-01) is a Monday

        return week_index(lb.date()) - week_index(la.date())

    return date_diff


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$year": _date_part(lambda d: d.year),
    "$month": _date_part(lambda d: d.month),
    "$dayOfMonth": _date_part(lambda d: d.day),
    "$hour": _date_part(lambda d: d.hour),
    "$minute": _date_part(lambda d: d.minute),
    "$second": _date_part(lambda d: d.second),
    "$millisecond": _date_part(lambda d: d.microsecond // 1000),
    "$dayOfYear": _date_part(lambda d: d.timetuple().tm_yday),
    "$dayOfWeek": _date_part(lambda d: d.isoweekday() % 7 + 1),
    "$week": _date_part(_week),
    "$isoWeek": _date_part(lambda d: d.isocalendar().week),
    "$isoWeekYear": _date_part(lambda d: d.isocalendar().year),
    "$isoDayOfWeek": _date_part(lambda d: d.isoweekday()),
    "$dateToString": _compile_date_to_string,
    "$dateFromString": _compile_date_from_string,
    "$dateFromParts": _compile_date_from_parts,
    "$dateToParts": _compile_date_to_parts,
    "$dateTrunc": _compile_date_trunc,
    "$dateAdd": _compile_date_add,
    "$dateSubtract": _compile_date_add,
    "$dateDiff": _compile_date_diff,
}

"""MongoDB (PCRE) regular expressions for the engine, translated to Python's ``re``.

MongoDB evaluates ``$regex`` with PCRE in UTF-8 mode; Python's ``re`` differs in a few places
that matter to real queries, which :func:`translate_pcre` rewrites:

* ``\\d \\w \\s \\b`` (and their negations) are ASCII-only in PCRE, Unicode-aware in Python;
* ``\\z`` ends the subject and ``\\Z`` allows a final newline (Python spells ``\\z`` as ``\\Z``);
* named groups ``(?<name>...)``/``(?'name'...)`` and back-references ``\\k<name>``;
* ``\\Q...\\E`` literal spans, ``\\x{HHHH}`` code points, ``\\e``, POSIX classes ``[[:alpha:]]``.

Constructs Python cannot express (``\\G``, recursion, inline flags in mid-pattern...) make the
pattern fail to compile, which is reported as a :class:`QueryError` rather than guessed at.
Inside character classes ``\\D \\W \\S`` keep Python's Unicode meaning (a documented deviation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from bson import Regex

from mindtrace.database.core.exceptions import QueryError

__all__ = ["QueryRegex", "compile_regex", "query_regex_from_value", "regex_value_parts"]

# Options MongoDB accepts in ``$options`` / regex flags ('u' is accepted and redundant).
_OPTION_FLAGS: Final[dict[str, int]] = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "u": 0,
}
_FLAG_LETTERS: Final[tuple[tuple[int, str], ...]] = (
    (re.IGNORECASE, "i"),
    (re.LOCALE, "l"),
    (re.MULTILINE, "m"),
    (re.DOTALL, "s"),
    (re.UNICODE, "u"),
    (re.VERBOSE, "x"),
)

_WORD: Final = "A-Za-z0-9_"
_SPACE: Final = "\\t\\n\\x0b\\f\\r "
_ESCAPES_OUTSIDE: Final[dict[str, str]] = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "b": f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))",
    "B": f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))",
    "z": "\\Z",
    "Z": "(?=\\n?\\Z)",
    "e": "\\x1b",
}
_ESCAPES_INSIDE: Final[dict[str, str]] = {
    "d": "0-9",
    "w": _WORD,
    "s": _SPACE,
    "e": "\\x1b",
}
_POSIX_CLASSES: Final[dict[str, str]] = {
    "alpha": "A-Za-z",
    "digit": "0-9",
    "alnum": "A-Za-z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": _SPACE,
    "blank": " \\t",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "xdigit": "0-9A-Fa-f",
    "word": _WORD,
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": "\\x20-\\x7e",
    "graph": "\\x21-\\x7e",
    "ascii": "\\x00-\\x7f",
}
_NAMED_GROUP: Final = re.compile(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')")
_NAMED_BACKREF: Final = re.compile(r"\\k(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|\{([A-Za-z_]\w*)\})")
_HEX_BRACED: Final = re.compile(r"\\x\{([0-9A-Fa-f]{1,8})\}")
_POSIX: Final = re.compile(r"\[:(\^?)([a-z]+):\]")


def translate_pcre(pattern: str, *, verbose: bool = False) -> str:
    """Rewrite a PCRE pattern into an equivalent Python ``re`` pattern (see module docstring).

    ``verbose`` says whether the ``x`` option is on, so ``#`` comments are copied untouched.
    Runs in one pass over the pattern.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_body_start = 0  # index in ``out`` where the current class's members begin
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if nxt == "E":
                i += 2
                continue
            if nxt == "k" and (m := _NAMED_BACKREF.match(pattern, i)):
                out.append(f"(?P={m.group(1) or m.group(2) or m.group(3)})")
                i = m.end()
                continue
            if nxt == "x" and (m := _HEX_BRACED.match(pattern, i)):
                code = int(m.group(1), 16)
                out.append(f"\\U{code:08x}" if code <= 0x10FFFF else m.group(0))
                i = m.end()
                continue
            table = _ESCAPES_INSIDE if in_class else _ESCAPES_OUTSIDE
            out.append(table.get(nxt, c + nxt))
            i += 2
            continue
        if in_class:
            if c == "[":
                m = _POSIX.match(pattern, i)
                if m and m.group(2) in _POSIX_CLASSES and not m.group(1):
                    out.append(_POSIX_CLASSES[m.group(2)])
                    i = m.end()
                    continue
                out.append("\\[")  # a literal '[' in a class; Python warns about nested sets
            elif c == "]" and len(out) > class_body_start:
                in_class = False
                out.append(c)
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            class_body_start = len(out)
            if i < n and pattern[i] == "]":  # ']' first in a class is a literal
                out.append("\\]")
                i += 1
            continue
        if c == "(" and (m := _NAMED_GROUP.match(pattern, i)):
            out.append(f"(?P<{m.group(1) or m.group(2)}>")
            i = m.end()
            continue
        if c == "#" and verbose:
            end = pattern.find("\n", i)
            end = n if end < 0 else end
            out.append(pattern[i:end])
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_options(options: str, *, operator: str = "$regex") -> int:
    """Python ``re`` flags for MongoDB regex options (``i m s x``, and the redundant ``u``).

    Raises:
        QueryError: an option letter MongoDB does not accept (e.g. ``g``).
    """
    flags = 0
    for letter in options:
        flag = _OPTION_FLAGS.get(letter)
        if flag is None:
            raise QueryError(
                f"invalid flag in regex options: {letter!r} (MongoDB accepts i, m, s, x and u)",
                operator=operator,
            )
        flags |= flag
    return flags


def compile_regex(pattern: str, options: str = "", *, operator: str = "$regex") -> re.Pattern[str]:
    """Compile a MongoDB regex (PCRE syntax, option letters) into a Python pattern.

    Raises:
        QueryError: an unknown option letter, or a pattern that is invalid or uses PCRE syntax
            Python cannot express; the message names ``operator`` and the pattern.
    """
    flags = parse_options(options, operator=operator)
    try:
        return re.compile(translate_pcre(pattern, verbose=bool(flags & re.VERBOSE)), flags)
    except (re.error, OverflowError, ValueError) as e:
        raise QueryError(
            f"{operator}: regular expression {pattern!r} is invalid or uses PCRE syntax the engine "
            f"cannot run ({e}); simplify the pattern",
            operator=operator,
        ) from e


def _letters(flags: int) -> str:
    return "".join(letter for flag, letter in _FLAG_LETTERS if flags & flag)


def regex_value_parts(value: Any) -> tuple[str, str] | None:
    """``(pattern, sorted option letters)`` of a regex *value* (bson.Regex or re.Pattern), else None.

    Used to compare stored regex values, which MongoDB equates by pattern and options.
    The redundant ``u`` option is ignored so ``re.compile`` patterns (always Unicode) compare
    equal to MongoDB regexes written without it.
    """
    if isinstance(value, Regex):
        flags = value.flags
        letters = "".join(sorted(flags)) if isinstance(flags, str) else _letters(int(flags))
        return (str(value.pattern), letters.replace("u", ""))
    if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
        return (value.pattern, _letters(value.flags).replace("u", ""))
    return None


@dataclass(frozen=True, slots=True)
class QueryRegex:
    """A regex used as a query predicate: matches strings by search, regex values by equality."""

    pattern: str
    options: str
    compiled: re.Pattern[str]

    def matches(self, value: Any) -> bool:
        """MongoDB's regex predicate on one value: strings by ``search``, stored regexes by equality."""
        if isinstance(value, str):
            return self.compiled.search(value) is not None
        if isinstance(value, Regex | re.Pattern):
            return regex_value_parts(value) == (self.pattern, "".join(sorted(self.options)).replace("u", ""))
        return False


def query_regex_from_value(value: Any, *, operator: str = "$regex") -> QueryRegex:
    """Build the predicate for a regex given as a value (bson.Regex or compiled ``re.Pattern``).

    A ``re.Pattern`` is already Python syntax and is used as compiled; a ``bson.Regex`` carries
    MongoDB (PCRE) syntax and is translated.

    Raises:
        QueryError: a bytes pattern, or a bson.Regex that does not compile.
    """
    if isinstance(value, re.Pattern):
        if not isinstance(value.pattern, str):
            raise QueryError(
                f"{operator}: byte-string regular expressions are not supported", operator=operator
            )
        return QueryRegex(value.pattern, _letters(value.flags), value)
    parts = regex_value_parts(value)
    if parts is None:
        raise QueryError(f"{operator} needs a regular expression, got {value!r}", operator=operator)
    pattern, letters = parts
    letters = "".join(ch for ch in letters if ch != "l")  # re.LOCALE has no MongoDB meaning
    return QueryRegex(pattern, letters, compile_regex(pattern, letters, operator=operator))

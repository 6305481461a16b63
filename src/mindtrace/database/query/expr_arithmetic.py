"""Arithmetic expression operators ($add … $log10, trigonometry) and MongoDB's numeric type rules.

Numbers keep MongoDB's result types: int op int stays int (a result beyond 64 bits becomes a
double), a double makes the result a double, and a decimal (``Decimal`` or ``Decimal128``) makes it
a ``Decimal`` computed with decimal128's 34-digit precision. A double joins decimal arithmetic
rounded to 15 significant digits, as MongoDB converts it. Null or missing operands give null.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128

from mindtrace.database.core.exceptions import QueryError
from mindtrace.database.query.compare import epoch_millis
from mindtrace.database.query.expr_operands import (
    Compiler,
    Evaluator,
    OperatorCompiler,
    Variables,
    bson_type_name,
    compile_operands,
    integral_value,
    is_nullish,
    normalize_int,
)

__all__ = [
    "DECIMAL_CONTEXT",
    "OPERATORS",
    "Summation",
    "as_utc_datetime",
    "epoch_millis",
    "from_epoch_millis",
    "is_date",
    "numeric",
    "to_decimal",
]

DECIMAL_CONTEXT: Final = decimal.Context(
    prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=6144, Emin=-6143, traps=[decimal.InvalidOperation]
)
"""decimal128's precision and exponent range; never mutated."""

Number = int | float | Decimal
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def numeric(value: Any) -> Number | None:
    """The Python number for a MongoDB number (bool is not one), or None for any other value."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return None


def to_decimal(value: Number) -> Decimal:
    """A number as a Decimal; doubles keep 15 significant digits, as MongoDB converts them."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return Decimal(value)
        return Decimal(f"{value:.15g}")
    return Decimal(value)


def is_date(value: Any) -> bool:
    """True for the values MongoDB's date arithmetic accepts (datetime, and date as midnight UTC)."""
    return isinstance(value, dt.datetime | dt.date)


def as_utc_datetime(value: dt.date) -> dt.datetime:
    """A timezone-aware UTC datetime for a date or datetime (naive means UTC)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def from_epoch_millis(millis: int, name: str = "date arithmetic") -> dt.datetime:
    """The UTC datetime ``millis`` milliseconds after the epoch; QueryError when out of range."""
    try:
        return _EPOCH + dt.timedelta(milliseconds=millis)
    except OverflowError as e:
        raise QueryError(
            f"{name}: the resulting date is outside the range Python datetimes can hold (years 1-9999)",
            operator=name,
        ) from e


def _combine(
    a: Number, b: Number, op: Callable[[Any, Any], Any], dec_op: Callable[[Decimal, Decimal], Decimal]
) -> Number:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return dec_op(to_decimal(a), to_decimal(b))
    if isinstance(a, float) or isinstance(b, float):
        return float(op(float(a), float(b)))
    return normalize_int(op(a, b))


def _add(a: Number, b: Number) -> Number:
    return _combine(a, b, lambda x, y: x + y, DECIMAL_CONTEXT.add)


def _mul(a: Number, b: Number) -> Number:
    return _combine(a, b, lambda x, y: x * y, DECIMAL_CONTEXT.multiply)


def _sub(a: Number, b: Number) -> Number:
    return _combine(a, b, lambda x, y: x - y, DECIMAL_CONTEXT.subtract)


def _round_millis(value: Number) -> int:
    # MongoDB rounds a fractional millisecond amount half away from zero before adding it to a date.
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError("cannot add a non-finite number of milliseconds to a date", operator="$add")
    return int(Decimal(value).to_integral_value(rounding=decimal.ROUND_HALF_UP))


class Summation:
    """Sums numbers like MongoDB's ``$sum``: exact integers, correctly rounded doubles, decimals.

    Non-numeric values are ignored. Doubles are summed without accumulating rounding error
    (Shewchuk's algorithm, as ``math.fsum``), so a long ``$sum`` matches MongoDB's compensated sum.
    """

    __slots__ = ("_decimal", "_has_decimal", "_has_float", "_int", "_partials", "_special", "count")

    def __init__(self) -> None:
        self._int = 0
        self._partials: list[float] = []
        self._special = 0.0  # the sum of infinities and NaNs, which poison the exact sum
        self._decimal = Decimal(0)
        self._has_float = False
        self._has_decimal = False
        self.count = 0

    def add(self, value: Any) -> None:
        """Add ``value`` when it is a number; ignore anything else."""
        number = numeric(value)
        if number is None:
            return
        self.count += 1
        if isinstance(number, int):
            self._int += number
        elif isinstance(number, float):
            self._has_float = True
            if math.isfinite(number):
                self._add_float(number)
            else:
                self._special += number
        else:
            self._has_decimal = True
            self._decimal = DECIMAL_CONTEXT.add(self._decimal, number)

    def _add_float(self, x: float) -> None:
        partials = self._partials
        i = 0
        for partial in partials:
            big, small = (x, partial) if abs(x) >= abs(partial) else (partial, x)
            hi = big + small
            lo = small - (hi - big)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def _float_total(self, extra: int) -> float:
        if self._special != 0 or self._special != self._special:
            return self._special
        return math.fsum([*self._partials, float(extra)])

    def total(self) -> Number:
        """The sum, typed as MongoDB types it (int, double or decimal); 0 when nothing was added."""
        if self._has_decimal:
            total = DECIMAL_CONTEXT.add(self._decimal, Decimal(self._int))
            if self._has_float:
                total = DECIMAL_CONTEXT.add(total, to_decimal(self._float_total(0)))
            return total
        if self._has_float:
            return self._float_total(self._int)
        return normalize_int(self._int)

    def mean(self) -> Number | None:
        """The average of the numbers added (a double unless decimals were added); None if none."""
        if not self.count:
            return None
        total = self.total()
        if isinstance(total, Decimal):
            return DECIMAL_CONTEXT.divide(total, Decimal(self.count))
        return float(total) / self.count


def _require_number(name: str, value: Any, what: str = "numeric") -> Number:
    number = numeric(value)
    if number is None:
        raise QueryError(f"{name} only supports {what} types, not {bson_type_name(value)}", operator=name)
    return number


def _compile_add(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def add(doc: Any, variables: Variables) -> Any:
        # Left to right, like MongoDB: the first null or missing operand ends with null, before
        # later operands are type-checked; doubles add one by one, as in MongoDB 6+.
        total: Number = 0
        date: dt.datetime | None = None
        for ev in operands:
            value = ev(doc, variables)
            if is_nullish(value):
                return None
            if is_date(value):
                if date is not None:
                    raise QueryError("only one date is allowed in an $add expression", operator=name)
                date = as_utc_datetime(value)
                continue
            total = _add(total, _require_number(name, value, "numeric or date"))
        if date is not None:
            return from_epoch_millis(epoch_millis(date) + _round_millis(total), name)
        return total

    return add


def _compile_subtract(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    left, right = compile_operands(name, arg, compiler, 2)

    def subtract(doc: Any, variables: Variables) -> Any:
        a, b = left(doc, variables), right(doc, variables)
        if is_nullish(a) or is_nullish(b):
            return None
        if is_date(a):
            if is_date(b):
                return epoch_millis(a) - epoch_millis(b)
            amount = numeric(b)
            if amount is None:
                raise QueryError(
                    f"can't $subtract {bson_type_name(b)} from a date; subtract a number of "
                    "milliseconds or another date",
                    operator=name,
                )
            return from_epoch_millis(epoch_millis(a) - _round_millis(amount), name)
        if is_date(b):
            raise QueryError(f"can't $subtract a date from {bson_type_name(a)}", operator=name)
        x, y = numeric(a), numeric(b)
        if x is None or y is None:
            raise QueryError(
                f"$subtract only supports numeric or date types, not {bson_type_name(a)} and "
                f"{bson_type_name(b)}",
                operator=name,
            )
        return _sub(x, y)

    return subtract


def _compile_multiply(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 0, None)

    def multiply(doc: Any, variables: Variables) -> Any:
        product: Number = 1
        for ev in operands:
            value = ev(doc, variables)
            if is_nullish(value):
                return None  # left to right, like MongoDB: later operands are not type-checked
            product = _mul(product, _require_number(name, value))
        return product

    return multiply


def _binary_numbers(
    name: str, arg: Any, compiler: Compiler
) -> Callable[[Any, Variables], tuple[Number, Number] | None]:
    left, right = compile_operands(name, arg, compiler, 2)

    def both(doc: Any, variables: Variables) -> tuple[Number, Number] | None:
        a, b = left(doc, variables), right(doc, variables)
        if is_nullish(a) or is_nullish(b):
            return None
        x, y = numeric(a), numeric(b)
        if x is None or y is None:
            raise QueryError(
                f"{name} only supports numeric types, not {bson_type_name(a)} and {bson_type_name(b)}",
                operator=name,
            )
        return x, y

    return both


def _is_zero(value: Number) -> bool:
    return value == 0


def _compile_divide(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    both = _binary_numbers(name, arg, compiler)

    def divide(doc: Any, variables: Variables) -> Any:
        pair = both(doc, variables)
        if pair is None:
            return None
        x, y = pair
        if _is_zero(y):
            raise QueryError("can't $divide by zero", operator=name)
        if isinstance(x, Decimal) or isinstance(y, Decimal):
            return DECIMAL_CONTEXT.divide(to_decimal(x), to_decimal(y))
        return x / y if isinstance(x, float) or isinstance(y, float) else _int_div(x, y)

    return divide


def _int_div(x: int, y: int) -> float:
    # Python's int/int true division is correctly rounded even for huge ints, as a double is.
    return x / y


def _compile_mod(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    both = _binary_numbers(name, arg, compiler)

    def mod(doc: Any, variables: Variables) -> Any:
        pair = both(doc, variables)
        if pair is None:
            return None
        x, y = pair
        if _is_zero(y):
            raise QueryError("can't $mod by zero", operator=name)
        # The result takes the dividend's sign, as C's fmod (Python's % takes the divisor's).
        if isinstance(x, Decimal) or isinstance(y, Decimal):
            return DECIMAL_CONTEXT.remainder(to_decimal(x), to_decimal(y))
        if isinstance(x, float) or isinstance(y, float):
            return math.fmod(x, y)
        r = abs(x) % abs(y)
        return -r if x < 0 else r

    return mod


def _unary(
    name: str,
    arg: Any,
    compiler: Compiler,
    fn: Callable[[Number], Any],
) -> Evaluator:
    (operand,) = compile_operands(name, arg, compiler, 1)

    def unary(doc: Any, variables: Variables) -> Any:
        value = operand(doc, variables)
        if is_nullish(value):
            return None
        return fn(_require_number(name, value))

    return unary


def _abs(x: Number) -> Number:
    if isinstance(x, int):
        return normalize_int(abs(x))
    if isinstance(x, float):
        return math.fabs(x)
    return x.copy_abs()


def _integral_op(float_fn: Callable[[float], float], rounding: str) -> Callable[[Number], Number]:
    def op(x: Number) -> Number:
        if isinstance(x, int):
            return x
        if isinstance(x, float):
            return x if not math.isfinite(x) else float(float_fn(x))
        if not x.is_finite():
            return x
        return x.to_integral_value(rounding=rounding)

    return op


def _compile_round_or_trunc(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    operands = compile_operands(name, arg, compiler, 1, 2)
    rounding = decimal.ROUND_HALF_EVEN if name == "$round" else decimal.ROUND_DOWN

    def round_or_trunc(doc: Any, variables: Variables) -> Any:
        value = operands[0](doc, variables)
        place_value = operands[1](doc, variables) if len(operands) > 1 else 0
        if is_nullish(value):
            return None
        x = _require_number(name, value)  # the number is checked before the place, as in MongoDB
        if is_nullish(place_value):
            return None
        place = integral_value(name, place_value, "the place argument", bits=64)
        if not -20 <= place < 100:
            raise QueryError(f"{name}: place must be between -20 and 100, got {place}", operator=name)
        return _round_number(x, place, rounding)

    return round_or_trunc


def _round_number(x: Number, place: int, rounding: str) -> Number:
    if isinstance(x, int):
        if place >= 0:
            return x
        scaled = Decimal(x).scaleb(place).to_integral_value(rounding=rounding)
        return normalize_int(int(scaled.scaleb(-place)))
    if isinstance(x, float):
        if not math.isfinite(x) or (place >= 0 and x.is_integer()):
            return x  # nothing to round (and no digits to spend on a huge integral double)
        # MongoDB rounds the shortest decimal form of the double (so 2.675 rounds to 2.68).
        d = Decimal(repr(x))
        return float(d.quantize(Decimal(1).scaleb(-place), rounding=rounding, context=_WIDE))
    if not x.is_finite():
        return x
    return x.quantize(Decimal(1).scaleb(-place), rounding=rounding, context=_WIDE)


# quantize() needs room for the digits kept; decimal128 values never exceed this.
_WIDE: Final = decimal.Context(prec=500, Emax=6144, Emin=-6143)


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise QueryError("$sqrt's argument must be greater than or equal to 0", operator="$sqrt")
    if isinstance(x, Decimal):
        return DECIMAL_CONTEXT.sqrt(x)
    return math.sqrt(x)


def _exp(x: Number) -> Number:
    if isinstance(x, Decimal):
        return DECIMAL_CONTEXT.exp(x)
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _positive_log(
    name: str, fn: Callable[[float], float], dec: Callable[[Decimal], Decimal]
) -> Callable[[Number], Number]:
    def log(x: Number) -> Number:
        if not x > 0 and x == x:  # noqa: PLR0124 - NaN passes through, as in MongoDB
            raise QueryError(f"{name}'s argument must be a positive number, but is {x}", operator=name)
        if isinstance(x, Decimal):
            return dec(x)
        return fn(x)

    return log


def _compile_log(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    both = _binary_numbers(name, arg, compiler)

    def log(doc: Any, variables: Variables) -> Any:
        pair = both(doc, variables)
        if pair is None:
            return None
        x, base = pair
        if not x > 0 and x == x:  # noqa: PLR0124 - NaN passes through, as in MongoDB
            raise QueryError(f"$log's argument must be a positive number, but is {x}", operator=name)
        if (not base > 0 or base == 1) and base == base:  # noqa: PLR0124
            raise QueryError(
                f"$log's base must be a positive number not equal to 1, but is {base}", operator=name
            )
        if isinstance(x, Decimal) or isinstance(base, Decimal):
            return DECIMAL_CONTEXT.divide(
                DECIMAL_CONTEXT.ln(to_decimal(x)), DECIMAL_CONTEXT.ln(to_decimal(base))
            )
        return math.log(x) / math.log(base)

    return log


def _compile_pow(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    both = _binary_numbers(name, arg, compiler)

    def power(doc: Any, variables: Variables) -> Any:
        pair = both(doc, variables)
        if pair is None:
            return None
        base, exponent = pair
        if base == 0 and exponent < 0:
            raise QueryError("$pow cannot take a base of 0 and a negative exponent", operator=name)
        if isinstance(base, Decimal) or isinstance(exponent, Decimal):
            return DECIMAL_CONTEXT.power(to_decimal(base), to_decimal(exponent))
        if isinstance(base, int) and isinstance(exponent, int):
            if exponent >= 0 and (abs(base) <= 1 or exponent <= 64):
                # Keep integer results while they fit 64 bits, as MongoDB does.
                return normalize_int(base**exponent)
            if exponent < 0 and base in (1, -1):
                return base**-exponent  # ±1 to a negative power stays an exact integer
        try:
            return math.pow(base, exponent)
        except OverflowError:
            odd = float(exponent).is_integer() and int(exponent) % 2 == 1
            return -math.inf if base < 0 and odd else math.inf
        except ValueError:
            return math.nan  # a negative base with a fractional exponent, as C's pow

    return power


def _trig(
    name: str, fn: Callable[[float], float], domain: tuple[float, float] | None = None
) -> OperatorCompiler:
    def compile_trig(op: str, arg: Any, compiler: Compiler) -> Evaluator:
        def apply(x: Number) -> Number:
            if domain is not None and not math.isnan(x) and not domain[0] <= x <= domain[1]:
                raise QueryError(
                    f"cannot apply {op} to {x}, value must be in [{domain[0]},{domain[1]}]", operator=op
                )
            try:
                result = fn(float(x))
            except ValueError as e:
                raise QueryError(f"cannot apply {op} to {x}: outside its domain", operator=op) from e
            except OverflowError:
                result = math.inf if x > 0 else -math.inf
            return to_decimal(result) if isinstance(x, Decimal) else result

        return _unary(op, arg, compiler, apply)

    return compile_trig


def _compile_atan2(name: str, arg: Any, compiler: Compiler) -> Evaluator:
    both = _binary_numbers(name, arg, compiler)

    def atan2(doc: Any, variables: Variables) -> Any:
        pair = both(doc, variables)
        if pair is None:
            return None
        y, x = pair
        result = math.atan2(float(y), float(x))
        return to_decimal(result) if isinstance(y, Decimal) or isinstance(x, Decimal) else result

    return atan2


def _unary_op(fn: Callable[[Number], Any]) -> OperatorCompiler:
    def compile_unary(name: str, arg: Any, compiler: Compiler) -> Evaluator:
        return _unary(name, arg, compiler, fn)

    return compile_unary


def _convert_angle(factor: float) -> Callable[[Number], Number]:
    def convert(x: Number) -> Number:
        if isinstance(x, Decimal):
            return DECIMAL_CONTEXT.multiply(x, to_decimal(factor))
        return float(x) * factor

    return convert


OPERATORS: Final[dict[str, OperatorCompiler]] = {
    "$add": _compile_add,
    "$subtract": _compile_subtract,
    "$multiply": _compile_multiply,
    "$divide": _compile_divide,
    "$mod": _compile_mod,
    "$abs": _unary_op(_abs),
    "$ceil": _unary_op(_integral_op(math.ceil, decimal.ROUND_CEILING)),
    "$floor": _unary_op(_integral_op(math.floor, decimal.ROUND_FLOOR)),
    "$round": _compile_round_or_trunc,
    "$trunc": _compile_round_or_trunc,
    "$sqrt": _unary_op(_sqrt),
    "$pow": _compile_pow,
    "$exp": _unary_op(_exp),
    "$ln": _unary_op(_positive_log("$ln", math.log, DECIMAL_CONTEXT.ln)),
    "$log10": _unary_op(_positive_log("$log10", math.log10, DECIMAL_CONTEXT.log10)),
    "$log": _compile_log,
    "$sin": _trig("$sin", math.sin),
    "$cos": _trig("$cos", math.cos),
    "$tan": _trig("$tan", math.tan),
    "$asin": _trig("$asin", math.asin, (-1.0, 1.0)),
    "$acos": _trig("$acos", math.acos, (-1.0, 1.0)),
    "$atan": _trig("$atan", math.atan),
    "$atan2": _compile_atan2,
    "$sinh": _trig("$sinh", math.sinh),
    "$cosh": _trig("$cosh", math.cosh),
    "$tanh": _trig("$tanh", math.tanh),
    "$asinh": _trig("$asinh", math.asinh),
    "$acosh": _trig("$acosh", math.acosh, (1.0, math.inf)),
    "$atanh": _trig("$atanh", math.atanh, (-1.0, 1.0)),
    "$degreesToRadians": _unary_op(_convert_angle(math.pi / 180)),
    "$radiansToDegrees": _unary_op(_convert_angle(180 / math.pi)),
}

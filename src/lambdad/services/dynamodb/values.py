"""DynamoDB's data types in wire form: validation, normalisation, size, comparison, sort keys.

Contract (the rest of services/dynamodb relies on it):

* An ``AttributeValue`` is the decoded JSON shape with exactly one member: ``{"S": str}``,
  ``{"N": str}``, ``{"B": bytes}``, ``{"BOOL": bool}``, ``{"NULL": True}``, ``{"M": {name: AV}}``,
  ``{"L": [AV]}``, ``{"SS": [str]}``, ``{"NS": [str]}``, ``{"BS": [bytes]}``. Binary members are
  ``bytes`` (the JSON codec decodes base64 before a handler runs); ``encode`` would be the codec's.
  An ``Item`` is ``{attribute name: AV}``.
* ``validate_value(av)`` / ``validate_item(item)`` check a client's value and return it normalised
  (numbers canonical, see ``normalize_number``); they raise ``DynamoDbError`` (ValidationException)
  with DynamoDB's own words. Values that came out of them (or out of storage) are "valid" and the
  other functions assume it; they never raise on valid input.
* ``check_key_value(name, av, type, is_hash=...)`` applies the key attributes' own rules (type,
  non-empty, 2048 / 1024 bytes).
* ``item_size(item)`` is DynamoDB's accounting (name bytes + value bytes); ``check_item_size``
  raises "Item size has exceeded the maximum allowed size" above 400 KB.
* ``compare(a, b)`` orders two scalars of one type (S by UTF-8 bytes, N numerically, B bytewise) and
  answers None when DynamoDB would not compare them (different types, or not S/N/B).
  ``values_equal`` is DynamoDB's equality (sets are order-insensitive, numbers numeric).
* ``sort_key_bytes(av)`` encodes an S, N or B so that comparing the bytes (SQLite BLOB / memcmp)
  gives ``compare``'s order within that type: the store keys range attributes with it.
"""

from __future__ import annotations

import base64
import re
from decimal import Context, Decimal
from typing import Any

from lambdad.errors import DynamoDbError

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
SCALAR_KEY_TYPES = ("S", "N", "B")
MAX_ITEM_BYTES = 400 * 1024
MAX_NESTING = 32  # levels of M/L below an attribute, as DynamoDB allows

# Valid numbers span 1E-130..1E+126 with 38 digits: a sum or difference of two is exact in 400.
_EXACT = Context(prec=400, Emax=999_999, Emin=-999_999)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?")

_INVALID = "One or more parameter values were invalid: "
_SET_NAMES = {"SS": "string", "NS": "number"}


def _fail(message: str) -> DynamoDbError:
    return DynamoDbError(message)


# --- numbers ---------------------------------------------------------------------------------------

def parse_number(text: object) -> Decimal:
    """A client's number string as an exact Decimal within DynamoDB's limits, or DynamoDB's error."""
    if not isinstance(text, str) or not text:
        raise _fail("The parameter cannot be converted to a numeric value")
    if len(text) > 4096 or not _NUMBER.fullmatch(text):
        raise _fail(f"The parameter cannot be converted to a numeric value: {text}")
    return checked_number(Decimal(text))  # exact: construction does not round


def _significand(value: Decimal) -> tuple[int, str, int]:
    """(sign, significant digits without leading/trailing zeros, exponent of the last digit)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    stripped = text.rstrip("0")
    return sign, stripped.lstrip("0"), exponent + len(text) - len(stripped)


def checked_number(value: Decimal) -> Decimal:
    """`value` if DynamoDB can store it (38 significant digits, 1E-130 <= |value| < 1E+126)."""
    if value.is_zero():
        return Decimal(0)
    sign, digits, exponent = _significand(value)
    if len(digits) > 38:
        raise _fail("Attempting to store more than 38 significant digits in a Number")
    adjusted = exponent + len(digits) - 1
    if adjusted > 125:
        raise _fail("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if adjusted < -130:
        raise _fail("Number underflow. Attempting to store a number with magnitude smaller than supported range")
    return Decimal((sign, tuple(int(c) for c in digits), exponent))


def format_number(value: Decimal) -> str:
    """DynamoDB's canonical text of a number: plain notation, no trailing zeros, no "-0"."""
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def normalize_number(text: object) -> str:
    return format_number(parse_number(text))


def number(av: AttributeValue) -> Decimal:
    """The Decimal of a valid ``{"N": ...}``."""
    return Decimal(av["N"])


def add_numbers(a: Decimal, b: Decimal) -> AttributeValue:
    """``a + b`` exactly, as a valid N, or DynamoDB's errors when the result cannot be stored."""
    return {"N": format_number(checked_number(_EXACT.add(a, b)))}


def subtract_numbers(a: Decimal, b: Decimal) -> AttributeValue:
    return {"N": format_number(checked_number(_EXACT.subtract(a, b)))}


# --- validation ------------------------------------------------------------------------------------

def value_type(av: AttributeValue) -> str:
    """The type tag of a valid value ("S", "N", ... "BS")."""
    return next(iter(av))


def validate_value(av: object, depth: int = 0) -> AttributeValue:
    """A client's AttributeValue checked and normalised (see the module docstring)."""
    if not isinstance(av, dict):
        raise DynamoDbError("Unexpected value type in payload", code="SerializationException")
    present = [k for k in TYPES if av.get(k) is not None]
    out: AttributeValue | None = None
    for kind in present:  # each member is checked first: DynamoDB reports a bad N before "more than one"
        out = {kind: _validate_member(kind, av[kind], depth)}
    if not present:
        raise _fail("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    if len(present) > 1:
        raise _fail("Supplied AttributeValue has more than one datatypes set, "
                    "must contain exactly one of the supported datatypes")
    assert out is not None
    return out


def _serialization() -> DynamoDbError:
    return DynamoDbError("Unexpected value type in payload", code="SerializationException")


def _validate_member(kind: str, member: Any, depth: int) -> Any:
    if kind == "S":
        if not isinstance(member, str):
            raise _serialization()
        return member
    if kind == "N":
        return normalize_number(member)
    if kind == "B":
        if not isinstance(member, bytes | bytearray):
            raise _serialization()
        return bytes(member)
    if kind == "BOOL":
        if not isinstance(member, bool):
            raise _serialization()
        return member
    if kind == "NULL":
        if member is not True:
            raise _fail(_INVALID + "Null attribute value types must have the value of true")
        return True
    if kind in ("M", "L"):
        if depth >= MAX_NESTING:
            raise _fail("Nesting Levels have exceeded supported limits")
        if kind == "M":
            if not isinstance(member, dict):
                raise _serialization()
            return {name: validate_value(v, depth + 1) for name, v in member.items()}
        if not isinstance(member, list):
            raise _serialization()
        return [validate_value(v, depth + 1) for v in member]
    # sets
    if not isinstance(member, list):
        raise _serialization()
    if kind == "BS":
        if not member:
            raise _fail(_INVALID + "Binary sets should not be empty")
        if not all(isinstance(m, bytes | bytearray) for m in member):
            raise _serialization()
        blobs = [bytes(m) for m in member]
        if len(set(blobs)) != len(blobs):
            shown = ", ".join(base64.b64encode(b).decode() for b in blobs)
            raise _fail(_INVALID + f"Input collection [{shown}]of type BS contains duplicates.")
        return blobs
    if not member:
        raise _fail(_INVALID + f"An {_SET_NAMES[kind]} set  may not be empty")
    if kind == "NS":
        numbers = [parse_number(m) for m in member]
        if len(set(numbers)) != len(numbers):
            raise _fail("Input collection contains duplicates")
        return [format_number(n) for n in numbers]
    if not all(isinstance(m, str) for m in member):
        raise _serialization()
    if len(set(member)) != len(member):
        raise _fail(_INVALID + f"Input collection [{', '.join(member)}] contains duplicates.")
    return list(member)


def validate_item(item: object) -> Item:
    """A client's item (or key) checked and normalised, attribute by attribute."""
    if not isinstance(item, dict):
        raise _serialization()
    return {name: validate_value(av) for name, av in item.items()}


def check_key_value(name: str, av: AttributeValue, key_type: str, *, is_hash: bool, in_item: bool = False) -> None:
    """A (valid) value used as key attribute `name` of type `key_type` ("S" | "N" | "B"): DynamoDB's
    refusals of the wrong type (an Item says which; a Key does not), empty strings and binaries, and
    keys above 2048 (hash) / 1024 (range) bytes."""
    kind = value_type(av)
    if kind != key_type:
        if in_item:
            raise _fail(_INVALID + f"Type mismatch for key {name} expected: {key_type} actual: {kind}")
        raise _fail("The provided key element does not match the schema")
    if kind == "N":
        return
    size = len(av["S"].encode("utf-8", "surrogatepass")) if kind == "S" else len(av["B"])
    if size == 0:
        what = "string" if kind == "S" else "binary"
        raise _fail(f"One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                    f"contain an empty {what} value. Key: {name}")
    if is_hash and size > 2048:
        raise _fail(_INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes")
    if not is_hash and size > 1024:
        raise _fail(_INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes")


# --- size ------------------------------------------------------------------------------------------

def _number_size(text: str) -> int:
    """Bytes of a number as DynamoDB counts them: its significant digits in base-100 pairs
    (aligned on the decimal point), one byte of exponent, one more when negative."""
    value = Decimal(text)
    if value.is_zero():
        return 1
    sign, digits, low = _significand(value)
    high = low + len(digits) - 1
    return high // 2 - low // 2 + 1 + 1 + sign


def value_size(av: AttributeValue) -> int:
    """DynamoDB's byte count of one value (without its attribute name). Iterative: no recursion."""
    total = 0
    stack: list[AttributeValue] = [av]
    while stack:
        v = stack.pop()
        kind = value_type(v)
        member = v[kind]
        if kind == "S":
            total += len(member.encode("utf-8", "surrogatepass"))
        elif kind == "N":
            total += _number_size(member)
        elif kind == "B":
            total += len(member)
        elif kind in ("BOOL", "NULL"):
            total += 1
        elif kind == "SS":
            total += sum(len(m.encode("utf-8", "surrogatepass")) for m in member)
        elif kind == "NS":
            total += sum(_number_size(m) for m in member)
        elif kind == "BS":
            total += sum(len(m) for m in member)
        elif kind == "M":
            total += 3 + len(member)
            for name, child in member.items():
                total += len(name.encode("utf-8", "surrogatepass"))
                stack.append(child)
        else:  # L
            total += 3 + len(member)
            stack.extend(member)
    return total


def item_size(item: Item) -> int:
    return sum(len(name.encode("utf-8", "surrogatepass")) + value_size(av) for name, av in item.items())


def check_item_size(item: Item, message: str = "Item size has exceeded the maximum allowed size") -> None:
    """Refuse an item above 400 KB (UpdateItem passes "Item size to update has exceeded ...")."""
    if item_size(item) > MAX_ITEM_BYTES:
        raise _fail(message)


# --- comparison ------------------------------------------------------------------------------------

def compare(a: AttributeValue, b: AttributeValue) -> int | None:
    """-1, 0 or 1 for two S, two N or two B values; None when DynamoDB does not order them."""
    kind = next(iter(a))
    if kind not in b or kind not in SCALAR_KEY_TYPES:
        return None
    x: Any = Decimal(a["N"]) if kind == "N" else a[kind]
    y: Any = Decimal(b["N"]) if kind == "N" else b[kind]
    # Python orders str by code point, which is UTF-8 byte order; bytes bytewise.
    return int(x > y) - int(x < y)


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    """DynamoDB's equality: same type and same value; sets regardless of order; numbers numerically.
    Iterative (values nest 32 levels at most, but nothing here relies on it)."""
    if "S" in a or "B" in a or "BOOL" in a or "NULL" in a:  # the common case: one scalar, no walk
        return a == b
    if "N" in a:
        return "N" in b and (a["N"] == b["N"] or Decimal(a["N"]) == Decimal(b["N"]))
    stack: list[tuple[AttributeValue, AttributeValue]] = [(a, b)]
    while stack:
        x, y = stack.pop()
        kind = value_type(x)
        if kind != value_type(y):
            return False
        xm, ym = x[kind], y[kind]
        if kind == "N":
            if Decimal(xm) != Decimal(ym):
                return False
        elif kind == "NS":
            if {Decimal(m) for m in xm} != {Decimal(m) for m in ym}:
                return False
        elif kind in ("SS", "BS"):
            if set(xm) != set(ym):
                return False
        elif kind == "M":
            if xm.keys() != ym.keys():
                return False
            stack.extend((xm[k], ym[k]) for k in xm)
        elif kind == "L":
            if len(xm) != len(ym):
                return False
            stack.extend(zip(xm, ym, strict=True))
        elif xm != ym:
            return False
    return True


def set_members(av: AttributeValue) -> list[Any]:
    """The members of a valid set as comparable Python values (Decimal for NS)."""
    kind = value_type(av)
    return [Decimal(m) for m in av[kind]] if kind == "NS" else list(av[kind])


# --- sort keys -------------------------------------------------------------------------------------

def sort_key_bytes(av: AttributeValue) -> bytes:
    """Bytes whose memcmp order is DynamoDB's order of S, N or B values of one type."""
    kind = value_type(av)
    if kind == "S":
        return bytes(av["S"].encode("utf-8", "surrogatepass"))
    if kind == "B":
        return bytes(av["B"])
    if kind == "N":
        return _number_sort_key(Decimal(av["N"]))
    raise ValueError(f"no sort key for type {kind}")


def _number_sort_key(value: Decimal) -> bytes:
    # 0x01 negative < 0x02 zero < 0x03 positive. Positive: the adjusted exponent (offset, two bytes
    # big-endian) then the significant digits as ASCII (a shorter mantissa is a prefix: smaller).
    # Negative: the positive encoding of |value| complemented byte by byte, then 0xFF so that a
    # prefix (a shorter mantissa: a larger negative number) sorts after its extensions.
    if value.is_zero():
        return b"\x02"
    sign, digits, exponent = _significand(value)
    adjusted = exponent + len(digits) - 1
    body = (adjusted + 32768).to_bytes(2, "big") + digits.encode("ascii")
    if not sign:
        return b"\x03" + body
    return b"\x01" + bytes(255 - c for c in body) + b"\xff"

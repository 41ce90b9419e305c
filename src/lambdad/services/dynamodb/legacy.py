"""DynamoDB's legacy (pre-expression) parameters, translated into the records of expressions.py.

Contract:

* ``check_mixing(request, operation)`` first: DynamoDB refuses a request that mixes legacy and
  expression parameters ("Can not use both expression and non-expression parameters in the same
  request: Non-expression parameters: {...} Expression parameters: {...}"), and placeholders sent
  with no expression to use them. ``operation`` is the API's name ("Query", "UpdateItem", ...; a
  BatchGetItem's or TransactGetItems' per-table entry checks as "GetItem").
* ``key_conditions(KeyConditions, hash_key, range_key)`` -> ``KeyCondition`` (as a
  KeyConditionExpression would give).
* ``filter_condition(QueryFilter | ScanFilter, ConditionalOperator)`` and
  ``expected_condition(Expected, ConditionalOperator)`` -> a ``Condition`` for ``evaluate``
  (None when the map is empty).
* ``attribute_updates(AttributeUpdates)`` -> an ``Update`` for ``apply_update`` (its run-time type
  errors say "Type mismatch for attribute to update", as DynamoDB's legacy path does).
* ``attributes_to_get(AttributesToGet)`` -> paths for ``project``.

Values in AttributeValueList / Value are validated (and normalised) here with values.py's words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lambdad.errors import DynamoDbError
from lambdad.services.dynamodb import values as v
from lambdad.services.dynamodb.expressions import (
    AddAction,
    And,
    Between,
    Call,
    Compare,
    Condition,
    DeleteAction,
    Function,
    In,
    KeyCondition,
    Not,
    Or,
    Path,
    PathOperand,
    SetAction,
    Update,
    ValueOperand,
)
from lambdad.services.dynamodb.values import AttributeValue

_INVALID = "One or more parameter values were invalid: "

# The order DynamoDB lists the parameters in its refusal (observed: UpdateItem, Query, GetItem).
_LEGACY_ORDER = ("AttributesToGet", "AttributeUpdates", "QueryFilter", "ScanFilter", "ConditionalOperator",
                 "KeyConditions", "Expected")
_EXPRESSION_ORDER = ("ProjectionExpression", "UpdateExpression", "FilterExpression", "ConditionExpression",
                     "KeyConditionExpression")
# Per operation: its legacy parameters, its expression parameters, and those that take values
# (in the order of DynamoDB's "... are null").
_OPERATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "GetItem": (("AttributesToGet",), ("ProjectionExpression",), ()),
    "PutItem": (("Expected", "ConditionalOperator"), ("ConditionExpression",), ("ConditionExpression",)),
    "DeleteItem": (("Expected", "ConditionalOperator"), ("ConditionExpression",), ("ConditionExpression",)),
    "UpdateItem": (("AttributeUpdates", "Expected", "ConditionalOperator"),
                   ("UpdateExpression", "ConditionExpression"), ("UpdateExpression", "ConditionExpression")),
    "Query": (("AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"),
              ("ProjectionExpression", "FilterExpression", "KeyConditionExpression"),
              ("FilterExpression", "KeyConditionExpression")),
    "Scan": (("AttributesToGet", "ScanFilter", "ConditionalOperator"),
             ("ProjectionExpression", "FilterExpression"), ("FilterExpression",)),
}


def check_mixing(request: Mapping[str, Any], operation: str) -> None:
    """Refuse legacy and expression parameters together, a ConditionalOperator with nothing to
    combine, and placeholders with no expression (the order of AWS's own request validator)."""
    legacy, expressions, valued = _OPERATIONS[operation]
    given_legacy = [p for p in _LEGACY_ORDER if p in legacy and request.get(p) is not None]
    given_expressions = [p for p in _EXPRESSION_ORDER if p in expressions and request.get(p) is not None]
    if given_legacy and given_expressions:
        raise DynamoDbError("Can not use both expression and non-expression parameters in the same request: "
                            f"Non-expression parameters: {{{', '.join(given_legacy)}}} "
                            f"Expression parameters: {{{', '.join(given_expressions)}}}")
    if request.get("ConditionalOperator") is not None and not any(
            request.get(p) is not None for p in ("Expected", "QueryFilter", "ScanFilter")):
        raise DynamoDbError("ConditionalOperator cannot be used without Filter or Expected")
    if request.get("ExpressionAttributeNames") is not None and not given_expressions:
        raise DynamoDbError("ExpressionAttributeNames can only be specified when using expressions")
    if request.get("ExpressionAttributeValues") is not None and not any(request.get(p) is not None for p in valued):
        if not valued:
            raise DynamoDbError("ExpressionAttributeValues can only be specified when using expressions")
        names = " and ".join(valued) if len(valued) == 2 else ", ".join(valued)
        verb = "is" if len(valued) == 1 else "are"
        raise DynamoDbError(f"ExpressionAttributeValues can only be specified when using expressions: "
                            f"{names} {verb} null")


# --- comparison operators --------------------------------------------------------------------------

_ARITY: dict[str, int | None] = {"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "NOT_NULL": 0, "NULL": 0,
                                 "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1, "IN": None, "BETWEEN": 2}
_SCALARS = ("S", "N", "B")
# (Recorded: CONTAINS takes BOOL and NULL too, refusing only sets, maps and lists.)
_MEMBERS = ("S", "N", "B", "BOOL", "NULL")
_TYPES: dict[str, tuple[str, ...] | None] = {"EQ": None, "NE": None, "LE": _SCALARS, "LT": _SCALARS,
                                             "GE": _SCALARS, "GT": _SCALARS, "CONTAINS": _MEMBERS,
                                             "NOT_CONTAINS": _MEMBERS, "BEGINS_WITH": ("S", "B"), "IN": _SCALARS,
                                             "BETWEEN": _SCALARS, "NULL": None, "NOT_NULL": None}
_COMPARES = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}


def _operands(operator: str, attribute_values: Sequence[Any] | None) -> list[AttributeValue]:
    if operator not in _ARITY:
        raise DynamoDbError(f"1 validation error detected: Value '{operator}' at 'comparisonOperator' failed to "
                            "satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, "
                            "NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]")
    given = [v.validate_value(x) for x in (attribute_values or [])]
    arity = _ARITY[operator]
    if (arity is None and not given) or (arity is not None and len(given) != arity):
        raise DynamoDbError(_INVALID + f"Invalid number of argument(s) for the {operator} ComparisonOperator")
    allowed = _TYPES[operator]
    for x in given:
        kind = v.value_type(x)
        if allowed is not None and kind not in allowed:
            raise DynamoDbError(_INVALID + f"ComparisonOperator {operator} is not valid for {kind} AttributeValue type")
    if any(v.value_type(x) != v.value_type(given[0]) for x in given[1:]):
        raise DynamoDbError(_INVALID + "AttributeValues inside AttributeValueList must be of same type")
    if operator == "BETWEEN":
        order = v.compare(given[0], given[1])
        if order is not None and order > 0:
            raise DynamoDbError("The BETWEEN condition was provided a range where the lower bound is greater than "
                                "the upper bound")
    return given


def _condition(name: str, operator: str, given: list[AttributeValue]) -> Condition:
    subject = PathOperand((name,))
    operands = tuple(ValueOperand(x) for x in given)
    if operator in _COMPARES:
        return Compare(_COMPARES[operator], subject, operands[0])  # type: ignore[arg-type]
    if operator == "NULL":
        return Function("attribute_not_exists", (subject,))
    if operator == "NOT_NULL":
        return Function("attribute_exists", (subject,))
    if operator == "CONTAINS":
        return Function("contains", (subject, operands[0]))
    if operator == "NOT_CONTAINS":  # as NOT contains(...): true when the attribute is absent
        return Not(Function("contains", (subject, operands[0])))
    if operator == "BEGINS_WITH":
        return Function("begins_with", (subject, operands[0]))
    if operator == "IN":
        return In(subject, operands)
    return Between(subject, operands[0], operands[1])


def _check_conditional_operator(conditions: Mapping[str, Any] | None, conditional_operator: str | None) -> None:
    if conditional_operator is not None and conditions is not None and len(conditions) < 2:
        raise DynamoDbError("ConditionalOperator can only be used when Filter or Expected has two or more elements")


def _combine(terms: list[Condition], conditional_operator: str | None) -> Condition | None:
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    return Or(tuple(terms)) if conditional_operator == "OR" else And(tuple(terms))


def filter_condition(filters: Mapping[str, Mapping[str, Any]] | None,
                     conditional_operator: str | None = None) -> Condition | None:
    """A QueryFilter or ScanFilter as a Condition (None when empty)."""
    _check_conditional_operator(filters, conditional_operator)
    terms: list[Condition] = []
    for name, spec in (filters or {}).items():
        operator = spec.get("ComparisonOperator")
        if operator is None:
            raise DynamoDbError("1 validation error detected: Value null at 'comparisonOperator' failed to satisfy "
                                "constraint: Member must not be null")
        terms.append(_condition(name, operator, _operands(operator, spec.get("AttributeValueList"))))
    return _combine(terms, conditional_operator)


def expected_condition(expected: Mapping[str, Mapping[str, Any]] | None,
                       conditional_operator: str | None = None) -> Condition | None:
    """Expected (Value / Exists, or ComparisonOperator + AttributeValueList) as a Condition."""
    _check_conditional_operator(expected, conditional_operator)
    terms: list[Condition] = []
    for name, spec in (expected or {}).items():
        value, exists = spec.get("Value"), spec.get("Exists")
        operator, listed = spec.get("ComparisonOperator"), spec.get("AttributeValueList")
        if value is not None and listed is not None:
            raise DynamoDbError(_INVALID + f"Value and AttributeValueList cannot be used together for "
                                           f"Attribute: {name}")
        if operator is not None:
            if exists is not None:
                raise DynamoDbError(_INVALID + f"Exists and ComparisonOperator cannot be used together for "
                                               f"Attribute: {name}")
            if operator not in ("NULL", "NOT_NULL") and value is None and listed is None:
                raise DynamoDbError(_INVALID + f"Value or AttributeValueList must be used with ComparisonOperator: "
                                               f"{operator} for Attribute: {name}")
            given = _operands(operator, listed if listed is not None else ([value] if value is not None else []))
            terms.append(_condition(name, operator, given))
            continue
        if listed is not None:
            raise DynamoDbError(_INVALID + f"AttributeValueList can only be used with a ComparisonOperator for "
                                           f"Attribute: {name}")
        if exists is False:
            if value is not None:
                raise DynamoDbError(_INVALID + f"Value cannot be used when Exists is false for Attribute: {name}")
            terms.append(Function("attribute_not_exists", (PathOperand((name,)),)))
            continue
        if value is None:
            state = "true" if exists else "null"
            raise DynamoDbError(_INVALID + f"Value must be provided when Exists is {state} for Attribute: {name}")
        terms.append(Compare("=", PathOperand((name,)), ValueOperand(v.validate_value(value))))
    return _combine(terms, conditional_operator)


def key_conditions(conditions: Mapping[str, Mapping[str, Any]], hash_key: tuple[str, str],
                   range_key: tuple[str, str] | None = None) -> KeyCondition:
    """KeyConditions against the queried key schema ((name, type) pairs, as parse_key_condition).
    DynamoDB's order: each condition's values and arity, then their count, then the schema."""
    parsed: dict[str, tuple[str, list[AttributeValue]]] = {}
    for name, spec in conditions.items():
        operator = spec.get("ComparisonOperator")
        if operator is None:
            raise DynamoDbError("1 validation error detected: Value null at 'comparisonOperator' failed to satisfy "
                                "constraint: Member must not be null")
        parsed[name] = (operator, _operands(operator, spec.get("AttributeValueList")))
    if not 1 <= len(parsed) <= 2:
        raise DynamoDbError("Conditions can be of length 1 or 2 only")
    hash_name, hash_type = hash_key
    if hash_name not in parsed:
        raise DynamoDbError(f"Query condition missed key schema element: {hash_name}")
    others = [n for n in parsed if n != hash_name]
    if others and (range_key is None or others[0] != range_key[0]):
        raise DynamoDbError(f"Query condition missed key schema element: {range_key[0] if range_key else hash_name}")
    for name, (operator, _) in parsed.items():
        allowed = ("EQ",) if name == hash_name else ("EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN")
        if operator not in allowed:
            raise DynamoDbError("Attempted conditional constraint is not an indexable operation")
    hash_value = _typed(parsed[hash_name][1][0], hash_type)
    if not others or range_key is None:
        return KeyCondition(hash_name, hash_value)
    range_name, range_type = range_key
    operator, given = parsed[range_name]
    typed = tuple(_typed(x, range_type) for x in given)
    if operator == "BEGINS_WITH":
        if range_type == "N":
            raise DynamoDbError(_INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")
        return KeyCondition(hash_name, hash_value, range_name, "begins_with", typed)
    if operator == "BETWEEN":
        return KeyCondition(hash_name, hash_value, range_name, "BETWEEN", typed)
    return KeyCondition(hash_name, hash_value, range_name, _COMPARES[operator], typed)  # type: ignore[arg-type]


def _typed(value: AttributeValue, key_type: str) -> AttributeValue:
    if v.value_type(value) != key_type:
        raise DynamoDbError(_INVALID + "Condition parameter type does not match schema type")
    return value


# --- AttributeUpdates and AttributesToGet ----------------------------------------------------------

def attribute_updates(updates: Mapping[str, Mapping[str, Any]]) -> Update:
    """AttributeUpdates ({name: {Action: PUT | ADD | DELETE, Value}}) as an Update."""
    sets: list[SetAction] = []
    removes: list[Path] = []
    adds: list[AddAction] = []
    deletes: list[DeleteAction] = []
    for name, spec in updates.items():
        action = spec.get("Action") or "PUT"
        raw = spec.get("Value")
        if raw is None:
            if action != "DELETE":
                raise DynamoDbError(_INVALID + "Only DELETE action is allowed when no attribute value is specified")
            removes.append((name,))
            continue
        value = v.validate_value(raw)
        kind = v.value_type(value)
        if action == "PUT":
            sets.append(SetAction((name,), ValueOperand(value)))
        elif action == "ADD":
            if kind == "L":  # legacy ADD appends to a list (created when missing)
                current = Call("if_not_exists", (PathOperand((name,)), ValueOperand({"L": []})))
                sets.append(SetAction((name,), Call("list_append", (current, ValueOperand(value)))))
            elif kind in ("N", "SS", "NS", "BS"):
                adds.append(AddAction((name,), value))
            else:
                raise DynamoDbError(_INVALID + f"ADD action is not supported for the type {kind}")
        elif action == "DELETE":
            if kind not in ("SS", "NS", "BS"):
                raise DynamoDbError(_INVALID + f"DELETE action with value is not supported for the type {kind}")
            deletes.append(DeleteAction((name,), value))
        else:
            raise DynamoDbError(f"1 validation error detected: Value '{action}' at 'attributeUpdates.{name}.member."
                                "action' failed to satisfy constraint: Member must satisfy enum value set: "
                                "[ADD, PUT, DELETE]")
    return Update(tuple(sets), tuple(removes), tuple(adds), tuple(deletes), legacy=True)


def attributes_to_get(names: Sequence[str]) -> tuple[Path, ...]:
    """AttributesToGet as projection paths (top-level names, taken literally)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DynamoDbError(_INVALID + f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return tuple((name,) for name in names)

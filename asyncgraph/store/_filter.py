"""Search filters: validation, a Python predicate, and SQL for the simple cases.

A filter maps a key of the value to a condition. A dotted key (``"a.b"``) addresses a
nested field. The condition is a value (equality) or a dict of operators
``$eq $ne $gt $gte $lt $lte``; a dict without operators matches a dict value holding at
least those keys with matching values; a list matches a list element by element.

Equality is JSON equality: strings equal strings, numbers equal numbers (``1 == 1.0``),
booleans only booleans, and ``None`` matches a null or missing field. ``$gt`` and the
other orderings compare numbers with numbers and strings with strings; a field of
another type (or a missing one) does not match. ``$ne`` is the negation of ``$eq``.

The SQL back ends evaluate a filter in the database when every condition is a scalar or
an operator dict of scalars (:func:`sql_conditions`); any other filter is evaluated by
:func:`compile_filter` in Python over the candidates, with the same results.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

__all__ = ["OPERATORS", "compile_filter", "sql_conditions", "validate_filter"]

Predicate = Callable[[dict[str, Any]], bool]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_MISSING = object()


def validate_filter(filter: Any) -> None:
    """Raise ``ValueError`` for a filter that is not a dict or uses an unknown operator."""
    if filter is None:
        return
    if not isinstance(filter, dict):
        raise ValueError(f"A search filter must be a dict, not {type(filter).__name__}: {filter!r}")
    for key, cond in filter.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"Filter keys must be non-empty strings, got {key!r}")
        _validate_cond(key, cond)


def _validate_cond(key: str, cond: Any) -> None:
    if isinstance(cond, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in cond):
            for op in cond:
                if op not in OPERATORS:
                    raise ValueError(
                        f"Unsupported operator {op!r} in the filter on {key!r}: use one of "
                        f"{', '.join(OPERATORS)}"
                    )
        else:
            for sub, value in cond.items():
                _validate_cond(f"{key}.{sub}", value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON scalars (see the module docstring)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _ordered(op: str, a: Any, b: Any) -> bool:
    if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return bool(_ORDER[op](a, b))
    return False


def _field(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _matches(actual: Any, cond: Any) -> bool:
    if isinstance(cond, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in cond):
            return all(_apply(actual, op, operand) for op, operand in cond.items())
        if not isinstance(actual, dict):
            return False
        return all(_matches(actual.get(k, _MISSING), v) for k, v in cond.items())
    if isinstance(cond, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(cond)
            and all(_matches(a, c) for a, c in zip(actual, cond, strict=True))
        )
    if cond is None:
        return actual is None or actual is _MISSING
    return actual is not _MISSING and json_equal(actual, cond)


def _apply(actual: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return _matches(actual, operand)
    if op == "$ne":
        return not _matches(actual, operand)
    return actual is not _MISSING and _ordered(op, actual, operand)


def compile_filter(filter: dict[str, Any] | None) -> Predicate | None:
    """A predicate over stored values, or None for "everything matches".

    Conditions on top-level keys against scalars (the common case) compile to direct
    lookups; everything else goes through the general matcher.
    """
    if not filter:
        return None
    checks = [_compile_one(key, cond) for key, cond in filter.items()]
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    def all_of(value: dict[str, Any]) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True

    return all_of


def _compile_one(key: str, cond: Any) -> Predicate:
    if "." not in key:
        if type(cond) is str:
            return _str_eq(key, cond)
        if type(cond) is dict and len(cond) == 1:
            ((op, operand),) = cond.items()
            if op in _ORDER and _is_number(operand):
                return _num_order(key, _ORDER[op], operand)
    path = tuple(key.split("."))

    def check(value: dict[str, Any]) -> bool:
        return _matches(_field(value, path), cond)

    return check


def _str_eq(key: str, cond: str) -> Predicate:
    def check(value: dict[str, Any]) -> bool:
        v = value.get(key)
        return v == cond and type(v) is str

    return check


def _num_order(key: str, compare: Callable[[Any, Any], bool], operand: float) -> Predicate:
    def check(value: dict[str, Any]) -> bool:
        v = value.get(key)
        return (type(v) is int or type(v) is float) and compare(v, operand)

    return check


# -- SQL -----------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def pushable(filter: dict[str, Any] | None) -> bool:
    """Whether :func:`sql_conditions` can express ``filter`` exactly."""
    if not filter:
        return True
    for cond in filter.values():
        if isinstance(cond, dict):
            if not any(isinstance(k, str) and k.startswith("$") for k in cond):
                return False
            if not all(_scalar(v) for v in cond.values()):
                return False
        elif not _scalar(cond):
            return False
    return True


def sql_conditions(
    filter: dict[str, Any], dialect: str
) -> tuple[list[str], list[Any]]:
    """WHERE conditions (each a definite boolean) and their parameters, for a filter
    :func:`pushable` accepts. ``dialect`` is ``"sqlite"`` or ``"postgres"``."""
    sql: list[str] = []
    params: list[Any] = []
    build = _sqlite_cond if dialect == "sqlite" else _pg_cond
    for key, cond in filter.items():
        path = key.split(".")
        ops = cond.items() if isinstance(cond, dict) else [("$eq", cond)]
        for op, operand in ops:
            text, args = build(path, op, operand)
            sql.append(text)
            params.extend(args)
    return sql, params


def _sqlite_path(path: list[str]) -> str:
    return "$" + "".join('."' + part.replace('"', '\\"') + '"' for part in path)


def _sqlite_cond(path: list[str], op: str, operand: Any) -> tuple[str, list[Any]]:
    p = _sqlite_path(path)
    kind = "json_type(value, ?)"
    if op in ("$eq", "$ne"):
        if operand is None:
            text, args = f"coalesce({kind} = 'null', 1)", [p]
        elif isinstance(operand, bool):
            text, args = f"coalesce({kind} = ?, 0)", [p, "true" if operand else "false"]
        elif isinstance(operand, str):
            text = f"coalesce({kind} = 'text' AND json_extract(value, ?) = ?, 0)"
            args = [p, p, operand]
        else:
            text = f"coalesce({kind} IN ('integer', 'real') AND json_extract(value, ?) = ?, 0)"
            args = [p, p, operand]
        return (f"NOT {text}" if op == "$ne" else text), args
    symbol = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    if isinstance(operand, str):
        return f"coalesce({kind} = 'text' AND json_extract(value, ?) {symbol} ?, 0)", [p, p, operand]
    if _is_number(operand):
        text = f"coalesce({kind} IN ('integer', 'real') AND json_extract(value, ?) {symbol} ?, 0)"
        return text, [p, p, operand]
    return "0", []  # an ordering against null or a boolean never matches


def _pg_cond(path: list[str], op: str, operand: Any) -> tuple[str, list[Any]]:
    field = "(value #> %s::text[])"
    args: list[Any]
    if op in ("$eq", "$ne"):
        if operand is None:
            text, args = f"coalesce({field} = 'null'::jsonb, true)", [path]
        else:
            text, args = f"coalesce({field} = %s::jsonb, false)", [path, json.dumps(operand)]
        return (f"NOT {text}" if op == "$ne" else text), args
    symbol = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    if isinstance(operand, str):
        kind = "string"
    elif _is_number(operand):
        kind = "number"
    else:
        return "false", []
    text = f"coalesce(jsonb_typeof({field}) = %s AND {field} {symbol} %s::jsonb, false)"
    return text, [path, kind, path, json.dumps(operand)]

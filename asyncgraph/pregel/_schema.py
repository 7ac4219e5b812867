"""State schemas (TypedDict, dataclass, Pydantic) lowered to channel specs.

Pure: inspects type hints, makes no I/O. A key annotated ``Annotated[T, reducer]`` gets
a :class:`BinaryOperatorAggregate`; ``Annotated[T, SomeChannel(...)]`` that channel;
``RemainingSteps`` / ``IsLastStep`` a managed value; anything else a
:class:`LastValue`.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NotRequired, Required, get_args, get_origin

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.channels.binop import BinaryOperatorAggregate
from asyncgraph.checkpoint.serde._allow import allow
from asyncgraph.channels.last_value import LastValue
from asyncgraph.errors import InvalidGraphError, InvalidUpdateError
from asyncgraph.managed import ManagedValue

SchemaKind = Literal["dict", "dataclass", "pydantic", "root"]

ROOT_KEY = "__root__"
"""The one channel of a root state (``StateGraph(Annotated[list, operator.add])``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One state key: its channel spec, or the managed value computed for it."""

    name: str
    channel: BaseChannel[Any, Any] | None
    managed: type[ManagedValue] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaInfo:
    """A lowered schema: its keys in declaration order and how node input is built."""

    schema: Any
    kind: SchemaKind
    fields: Mapping[str, Field]
    defaults: Mapping[str, Any]
    # The keys in declaration order, made once (read at every conditional edge).
    keys: tuple[str, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.fields))

    def coerce(self, values: dict[str, Any], where: str) -> Any:
        """Node input for ``values``: the dict itself, or an instance of the schema.

        Raises:
            InvalidUpdateError: a Pydantic schema rejected the values (names ``where``).
        """
        if self.kind == "dict":
            return values
        if self.kind == "root":  # the state is one value, not a dict of keys
            return values.get(ROOT_KEY)
        if self.kind == "pydantic":
            try:
                return self.schema(**values)
            except Exception as exc:  # pydantic.ValidationError, kept generic: lazy import
                raise InvalidUpdateError(
                    f"State for {where} does not validate as {self.schema.__name__}: {exc}",
                    value=values,
                ) from exc
        return self.schema(**{**self.defaults, **values})


def _unwrap_required(tp: Any) -> Any:
    while get_origin(tp) in (Required, NotRequired):
        tp = get_args(tp)[0]
    return tp


def is_reducer(fn: Any) -> bool:
    """Whether ``fn`` can be a reducer: a callable taking two positional arguments."""
    if isinstance(fn, type) or not callable(fn):
        return False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: trust them
        return True
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_var = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    return len(positional) >= 2 or has_var


def field_for(name: str, annotation: Any) -> Field:
    """The field of state key ``name: annotation``: its channel or managed value."""
    annotation = _unwrap_required(annotation)
    if get_origin(annotation) is Annotated:
        typ, *meta = get_args(annotation)
        typ = _unwrap_required(typ)
        for item in reversed(meta):
            if isinstance(item, type) and issubclass(item, ManagedValue):
                return Field(name, None, item)
            if isinstance(item, BaseChannel):
                with_type = getattr(item, "with_type", None)  # DeltaChannel: takes T
                channel = with_type(typ) if with_type is not None else item._empty()
                channel.key = name
                if with_type is None:
                    channel.value = item.value
                return Field(name, channel)
            if isinstance(item, type) and issubclass(item, BaseChannel):
                channel = item(typ)
                channel.key = name
                return Field(name, channel)
            if is_reducer(item):
                return Field(name, BinaryOperatorAggregate(typ, item, key=name))
            if callable(item) and not isinstance(item, type):
                raise InvalidGraphError(
                    f"Invalid reducer for state key '{name}': {getattr(item, '__name__', item)!r} "
                    f"takes {_signature(item)}; a reducer takes two arguments (current value, update)"
                )
        return Field(name, LastValue(typ, key=name))
    return Field(name, LastValue(annotation, key=name))


def _is_pydantic(schema: Any) -> bool:
    return isinstance(schema, type) and any(
        c.__module__.startswith("pydantic") and c.__name__ == "BaseModel" for c in schema.__mro__
    )


def is_schema(obj: Any) -> bool:
    """Whether ``obj`` looks like a state schema class (TypedDict, dataclass, Pydantic)."""
    if not isinstance(obj, type):
        return False
    return _is_typeddict(obj) or dataclasses.is_dataclass(obj) or _is_pydantic(obj)


def _is_typeddict(obj: Any) -> bool:
    # typing_extensions.TypedDict (used by many libraries on 3.11) is a different class
    # factory that typing.is_typeddict does not recognise.
    if typing.is_typeddict(obj):
        return True
    import typing_extensions

    return bool(typing_extensions.is_typeddict(obj))


def lower_schema(schema: Any) -> SchemaInfo:
    """Lower a schema class to its fields. A type that is not a schema class (``list``,
    ``list[str]``, ``Annotated[int, operator.add]``) is a root state: one field,
    ``__root__``, and nodes read and return the value itself. A plain class with
    annotations is read like a TypedDict (its values are dicts), as LangGraph does.

    Raises:
        InvalidGraphError: ``schema`` is not a TypedDict, dataclass or Pydantic model,
            or its type hints cannot be resolved.
    """
    if schema is dict or schema is None:
        return SchemaInfo(dict, "dict", {}, {})
    if not is_schema(schema) and (
        (isinstance(schema, type) and not hasattr(schema, "__annotations__")) or typing.get_origin(schema) is not None
    ):
        # A root state: one value, e.g. ``StateGraph(Annotated[list, operator.add])``
        # (its reducer combines the nodes' return values) or ``StateGraph(list[str])``.
        return SchemaInfo(schema, "root", {ROOT_KEY: field_for(ROOT_KEY, schema)}, {})
    if not is_schema(schema) and not isinstance(schema, type):
        raise InvalidGraphError(
            f"State schema must be a TypedDict, dataclass or Pydantic model, got {schema!r}"
        )
    try:
        hints = typing.get_type_hints(schema, include_extras=True)
    except Exception as exc:
        raise InvalidGraphError(
            f"Cannot resolve the type hints of state schema {schema.__name__}: {exc}"
        ) from exc
    defaults: dict[str, Any] = {}
    kind: SchemaKind
    if _is_pydantic(schema):
        kind = "pydantic"
        for fname, finfo in schema.model_fields.items():
            if not finfo.is_required():
                defaults[fname] = MISSING  # pydantic fills its own defaults
        hints = {k: v for k, v in hints.items() if k in schema.model_fields}
    elif dataclasses.is_dataclass(schema):
        kind = "dataclass"
        for f in dataclasses.fields(schema):
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                defaults[f.name] = f.default_factory()
        names = {f.name for f in dataclasses.fields(schema)}
        hints = {k: v for k, v in hints.items() if k in names}
    else:
        kind = "dict"
    fields = {name: field_for(name, ann) for name, ann in hints.items()}
    if kind == "dict" and list(fields) == [ROOT_KEY]:
        # A TypedDict whose one key is ``__root__``: a root state, as in LangGraph.
        return SchemaInfo(schema, "root", fields, {})
    _allow_declared(schema, hints.values())
    return SchemaInfo(schema, kind, fields, {k: v for k, v in defaults.items() if v is not MISSING})


def _allow_declared(schema: Any, annotations: Any) -> None:
    """The checkpoint serializer may rebuild the classes a graph declares for its state:
    the schema itself when it is a Pydantic model or dataclass, and those named in its
    fields' annotations. The graph builds instances of them from its input anyway, and
    LangGraph stores them without registration (a Pydantic state's ``Send`` argument is
    one), so a graph that works there works here. Other classes still need ``allow()``."""
    seen: set[Any] = set()

    def walk(tp: Any, depth: int) -> None:
        if depth > 8:
            return
        try:
            if tp in seen:
                return
            seen.add(tp)
        except TypeError:  # unhashable: Annotated metadata (a Field, LangChain's OmitFromSchema)
            for arg in get_args(tp)[:1]:  # Annotated[X, ...]: X is still declared
                walk(arg, depth + 1)
            return
        if isinstance(tp, type):
            if _is_pydantic(tp) or dataclasses.is_dataclass(tp):
                allow(tp)
                try:
                    nested = typing.get_type_hints(tp).values()
                except Exception:  # unresolvable hints: the class itself is enough
                    return
                for ann in nested:
                    walk(ann, depth + 1)
            return
        for arg in get_args(tp):
            walk(arg, depth + 1)

    if _is_pydantic(schema) or dataclasses.is_dataclass(schema):
        allow(schema)
    for ann in annotations:
        walk(ann, 0)


_FIELD_VALIDATORS: dict[Any, dict[str, Any]] = {}


def check_pydantic_writes(info: SchemaInfo, node: str, pairs: Any) -> None:
    """Validate values a node wrote to plain (last-value) fields of a Pydantic state.

    Called when the write is made, so the error names the node that wrote the bad
    value rather than the next node that reads the state. Values are checked, not
    replaced (the state keeps what the node returned, as in LangGraph). Reducer keys
    are skipped: their updates are not of the field's type.

    Raises:
        InvalidUpdateError: naming the node, the key and the value.
    """
    schema = info.schema
    validators = _FIELD_VALIDATORS.get(schema)
    if validators is None:
        from pydantic import TypeAdapter  # only Pydantic states get here

        validators = {}
        for name, finfo in schema.model_fields.items():
            field = info.fields.get(name)
            if field is not None and type(field.channel) is LastValue:
                validators[name] = TypeAdapter(finfo.rebuild_annotation())
        _FIELD_VALIDATORS[schema] = validators
    for key, value in pairs:
        adapter = validators.get(key)
        if adapter is None:
            continue
        try:
            adapter.validate_python(value)
        except Exception as exc:  # pydantic.ValidationError
            first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            raise InvalidUpdateError(
                f"Node '{node}' wrote {value!r} to '{key}', which "
                f"{schema.__name__}.{key} rejects: {first}",
                key=key,
                nodes=(node,),
                value=value,
            ) from exc


def object_to_updates(obj: Any, info: SchemaInfo | None) -> list[tuple[str, Any]] | None:
    """(key, value) pairs for a node that returned a dataclass / Pydantic state object.

    Returns ``None`` when ``obj`` is not such an object. Pydantic: every field but those
    that are None by default and were left so (LangGraph's rule: a field with a default
    factory counts, whatever its value); dataclass: every field.
    """
    if _is_pydantic(type(obj)):
        fields_set = obj.model_fields_set
        out = []
        for name, finfo in type(obj).model_fields.items():
            value = getattr(obj, name)
            if value is not None or finfo.default is not None or name in fields_set:
                out.append((name, value))
        return out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    return None


def first_param_schema(fn: Callable[..., Any]) -> Any:
    """The schema class annotated on ``fn``'s first parameter, if any."""
    try:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if not params:
            return None
        ann = params[0].annotation
        if ann is inspect.Parameter.empty:
            return None
        if isinstance(ann, str):
            ann = typing.get_type_hints(fn).get(params[0].name)
        return ann if is_schema(ann) else None
    except Exception:
        return None


def context_jsonschema(schema: Any) -> dict[str, Any] | None:
    """The JSON schema of a graph's ``context_schema`` (a Pydantic model, TypedDict or
    dataclass), or None when there is none.

    Raises:
        ValueError: ``schema`` is none of those kinds.
    """
    if schema is None:
        return None
    from pydantic import TypeAdapter  # for import time: rarely needed

    if _is_pydantic(schema):
        return schema.model_json_schema()  # type: ignore[no-any-return]
    if _is_typeddict(schema) or dataclasses.is_dataclass(schema):
        return TypeAdapter(schema).json_schema()
    raise ValueError(f"context_schema must be a Pydantic model, TypedDict or dataclass, got {schema!r}")


def state_jsonschema(info: SchemaInfo, name: str) -> dict[str, Any]:
    """The JSON schema of a graph's input or output (``info``, its lowered schema), as
    LangGraph gives it: a Pydantic model's or a TypedDict's own schema; for a root state
    the value's type (titled ``name``); otherwise (a dataclass) an object of the state
    keys' types, each optional with its default unless the field has none."""
    from pydantic import RootModel, TypeAdapter, create_model  # for import time: rarely needed

    schema = info.schema
    if info.kind == "pydantic":
        return schema.model_json_schema()  # type: ignore[no-any-return]
    if isinstance(schema, type) and _is_typeddict(schema):
        return TypeAdapter(schema).json_schema()
    if info.kind == "root":
        field = info.fields[ROOT_KEY]
        typ = field.channel.UpdateType if field.channel is not None else Any
        root = create_model(name, __base__=RootModel[typ], root=(typ, None))  # type: ignore[call-overload, valid-type]
        return root.model_json_schema()  # type: ignore[no-any-return]
    required = set()
    if dataclasses.is_dataclass(schema):
        for f in dataclasses.fields(schema):
            no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            # Required: no default and None not allowed, or an explicit ``default=...``.
            if (no_default and not _admits_none(f.type)) or f.default is Ellipsis:
                required.add(f.name)
    defs: dict[str, Any] = {}
    for key, field in info.fields.items():
        if field.channel is None:
            continue  # a managed value: not part of the input
        typ = field.channel.UpdateType
        default = info.defaults.get(key)
        defs[key] = (typ, ...) if key in required else (typ, None if default is Ellipsis else default)
    return create_model(name, **defs).model_json_schema()  # type: ignore[call-overload, no-any-return]


def _admits_none(tp: Any) -> bool:
    """Whether the annotation ``tp`` allows None (``X | None``, ``Optional[X]``, ``Any``)."""
    if isinstance(tp, str):
        return "None" in tp or "Optional" in tp
    tp = _unwrap_required(tp)
    if get_origin(tp) is Annotated:
        return _admits_none(get_args(tp)[0])
    if tp is Any or tp is None or tp is type(None):
        return True
    return any(_admits_none(a) for a in get_args(tp)) if get_origin(tp) in (typing.Union, types.UnionType) else False


def _signature(fn: Any) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "an unknown signature"

"""Schema and node-name helpers under the private names LangGraph's ``graph.state`` has.

``StateGraph`` lowers schemas with :mod:`asyncgraph.pregel._schema`; these functions give
code written against LangGraph's private helpers (``_get_channel``, ``_get_node_name``,
``_is_field_channel``, ``_warn_invalid_state_schema``) the same answers, from that
same lowering.
"""

from __future__ import annotations

import typing
import warnings
from typing import Any

from asyncgraph.channels.base import BaseChannel
from asyncgraph.pregel._schema import field_for

__all__ = ["_get_channel", "_get_node_name", "_is_field_channel", "_warn_invalid_state_schema"]


def _get_channel(name: str, annotation: Any, *, allow_managed: bool = True) -> Any:
    """The channel a state key ``name: annotation`` gets (its key set to ``name``):
    the channel in its ``Annotated`` metadata, a ``BinaryOperatorAggregate`` for a
    reducer, else ``LastValue``. A managed value (``RemainingSteps`` ...) is returned
    as its class.

    Raises:
        ValueError: the annotation is a managed value and ``allow_managed`` is false.
    """
    field = field_for(name, annotation)
    if field.managed is not None:
        if not allow_managed:
            raise ValueError(f"The managed value {annotation} is not allowed in this position")
        return field.managed
    return field.channel


def _is_field_channel(annotation: Any) -> BaseChannel[Any, Any] | None:
    """The channel named in ``Annotated[T, channel]`` metadata (a new one for a
    channel class), or None."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return None
    for item in annotation.__metadata__:
        if isinstance(item, BaseChannel) or isinstance(item, type) and issubclass(item, BaseChannel):
            return field_for("", annotation).channel
    return None


def _get_node_name(node: Any) -> str:
    """A node's default name: its ``__name__``, else its class's name."""
    return str(getattr(node, "__name__", type(node).__name__))


def _warn_invalid_state_schema(schema: Any) -> None:
    """Warn (``UserWarning``) when ``schema`` is neither a class nor an
    ``Annotated[type, reducer]``: a dict or instance passed where a schema belongs."""
    if isinstance(schema, type) or typing.get_args(schema):
        return
    warnings.warn(
        f"Invalid state_schema: {schema!r}. Expected a type (TypedDict, dataclass, "
        "Pydantic model) or Annotated[type, reducer].",
        stacklevel=2,
    )

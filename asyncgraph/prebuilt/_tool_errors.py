"""What a failing tool call answers: ``handle_tool_errors`` of :class:`ToolNode`.

The policy is decided once, when the node is built (:class:`ErrorPolicy`); a failing
call only checks an ``isinstance`` and renders a string.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

from langchain_core.tools import ToolException
from langchain_core.tools.base import TOOL_MESSAGE_BLOCK_TYPES
from pydantic import ValidationError

__all__ = [
    "INVALID_TOOL_NAME_ERROR_TEMPLATE",
    "TOOL_CALL_ERROR_TEMPLATE",
    "ErrorHandler",
    "ErrorPolicy",
    "ToolInvocationError",
    "msg_content_output",
]

ErrorHandler = bool | str | Callable[..., str] | type[Exception] | tuple[type[Exception], ...]

# LangGraph's texts: models (and tests) see them verbatim.
INVALID_TOOL_NAME_ERROR_TEMPLATE = "Error: {requested_tool} is not a valid tool, try one of [{available_tools}]."
TOOL_CALL_ERROR_TEMPLATE = "Error: {error}\n Please fix your mistakes."
TOOL_INVOCATION_ERROR_TEMPLATE = (
    "Error invoking tool '{tool_name}' with kwargs {tool_kwargs} with error:\n {error}\n Please fix the error and try again."
)


class ToolInvocationError(ToolException):
    """The model called a tool with arguments its schema rejects.

    By default :class:`ToolNode` answers the model with this error's message (so it can
    retry) instead of raising it.

    Attributes:
        tool_name: the tool called.
        tool_kwargs: the arguments the model sent (injected ones left out).
        source: the ``ValidationError`` raised by the tool's argument schema.
        filtered_errors: the validation errors about arguments the model controls
            (None: all of ``source``'s).
        message: the text the model is answered with.
    """

    def __init__(
        self,
        tool_name: str,
        source: ValidationError,
        tool_kwargs: dict[str, Any],
        filtered_errors: list[Any] | None = None,
    ) -> None:
        if filtered_errors is None:
            problems = str(source)
        else:
            problems = "\n".join(
                f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', 'Unknown error')}" for e in filtered_errors
            )
        self.message = TOOL_INVOCATION_ERROR_TEMPLATE.format(tool_name=tool_name, tool_kwargs=tool_kwargs, error=problems)
        self.tool_name = tool_name
        self.tool_kwargs = tool_kwargs
        self.source = source
        self.filtered_errors = filtered_errors
        super().__init__(self.message)


def model_errors(source: ValidationError, hidden: frozenset[str]) -> list[Any]:
    """The validation errors about arguments the model sent: errors about injected
    arguments are dropped, and injected values are left out of each error's input."""
    out: list[Any] = []
    for error in source.errors():
        loc = error["loc"]
        if not loc or loc[0] in hidden:
            continue
        error = {**error}
        value = error.get("input")
        if isinstance(value, dict):
            error["input"] = {k: v for k, v in value.items() if k not in hidden}
        out.append(error)
    return out


def _default_handle_tool_errors(e: Exception) -> str:
    """``ToolNode``'s default ``handle_tool_errors``: bad arguments are answered with
    the problem, every other error is raised."""
    if isinstance(e, ToolInvocationError):
        return e.message
    raise e


def _default_error_content(exc: BaseException) -> str:
    return TOOL_CALL_ERROR_TEMPLATE.format(error=repr(exc))


def _infer_handled_types(handler: Callable[..., Any]) -> tuple[type[Exception], ...]:
    """The exception types a ``handle_tool_errors`` callable accepts, read from the
    annotation of its first parameter (``(Exception,)`` when unannotated).

    Raises:
        ValueError: the annotation is not an exception type or a union of them.
    """
    params = list(inspect.signature(handler).parameters.values())
    if not params:
        return (Exception,)
    first = params[1] if params[0].name in ("self", "cls") and len(params) == 2 else params[0]
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # noqa: BLE001  (unresolvable hints: fall back to the raw annotation)
        hints = {}
    ann = hints.get(first.name, first.annotation)
    if ann is inspect.Parameter.empty or ann is Any:
        return (Exception,)
    members = get_args(ann) if get_origin(ann) in (Union, types.UnionType) else (ann,)
    if all(isinstance(t, type) and issubclass(t, Exception) for t in members):
        return tuple(members)
    raise ValueError(
        f"handle_tool_errors callable {handler!r}: its first parameter is annotated {ann!r}; "
        "annotate it with an exception type or a union of them (e.g. `e: ValueError | "
        "TypeError`), or leave it unannotated to handle every exception"
    )


class ErrorPolicy:
    """``handle_tool_errors`` turned into one decision: raise, or the error text.

    Attributes:
        catch: exception types answered with a message (others are raised).
        render: the message for a caught exception.
        on: False when ``handle_tool_errors`` is falsy (every error raises).
        default: LangGraph's default (only bad arguments are answered).
    """

    __slots__ = ("catch", "render", "on", "default")

    def __init__(self, spec: ErrorHandler | None) -> None:
        self.catch: tuple[type[BaseException], ...]
        self.render: Callable[[BaseException], str]
        self.on = bool(spec) or spec is None
        self.default = spec is None or spec is _default_handle_tool_errors
        if self.default:
            self.catch = (ToolInvocationError,)
            self.render = str
        elif spec is True:
            self.catch = (Exception,)
            self.render = _default_error_content
        elif spec is False:
            self.catch = ()
            self.render = str
        elif isinstance(spec, str):
            text = spec
            self.catch = (Exception,)
            self.render = lambda _exc: text
        elif isinstance(spec, type) and issubclass(spec, BaseException):
            self.catch = (spec,)
            self.render = _default_error_content
        elif isinstance(spec, tuple) and all(isinstance(t, type) and issubclass(t, BaseException) for t in spec):
            self.catch = spec
            self.render = _default_error_content
        elif callable(spec):
            fn: Callable[[BaseException], str] = spec  # type: ignore[assignment]  # any callable
            self.catch = _infer_handled_types(fn)
            self.render = fn
        else:
            raise TypeError(
                "handle_tool_errors must be a bool, a str, an exception type, a tuple of "
                f"exception types or a callable; got {spec!r}"
            )

    def answer(self, exc: Exception) -> str:
        """The message for ``exc`` raised inside a tool, or ``exc`` re-raised."""
        if not isinstance(exc, self.catch):
            raise exc
        return self.render(exc)

    def answer_wrapper(self, exc: Exception) -> str:
        """The message for ``exc`` raised by a ``wrap_tool_call`` interceptor, or
        ``exc`` re-raised. As in LangGraph, any truthy ``handle_tool_errors`` renders
        it, whatever exception types it names; the default raises all but bad
        arguments."""
        if not self.on:
            raise exc
        if self.default:
            if isinstance(exc, ToolInvocationError):
                return exc.message
            raise exc
        return self.render(exc)


def msg_content_output(output: Any) -> str | list[dict[str, Any]]:
    """A tool's output as ``ToolMessage`` content: a str or a list of content blocks is
    kept, anything else is JSON (``str()`` when it is not JSON-serializable)."""
    if isinstance(output, str) or (
        isinstance(output, list)
        and all(isinstance(x, dict) and x.get("type") in TOOL_MESSAGE_BLOCK_TYPES for x in output)
    ):
        return output
    try:
        return json.dumps(output, ensure_ascii=False)
    except Exception:  # noqa: BLE001  (any object: fall back to its str)
        return str(output)

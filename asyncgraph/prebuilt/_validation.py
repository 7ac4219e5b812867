"""``ValidationNode``: checks the tool calls of the last AI message against schemas,
without running anything (structured extraction with re-prompting on bad output)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, create_schema_from_function
from pydantic import BaseModel, ValidationError
from pydantic.v1 import BaseModel as BaseModelV1
from pydantic.v1 import ValidationError as ValidationErrorV1

__all__ = ["ValidationNode"]


def _default_format_error(error: BaseException, call: ToolCall, schema: Any) -> str:
    return f"{error!r}\n\nRespond after fixing all validation errors."


class ValidationNode(Runnable[Any, Any]):
    """A node that validates every tool call of the last ``AIMessage`` (it must be the
    last message) and answers each with a ``ToolMessage``: the validated arguments as
    JSON, or the error (with ``additional_kwargs={"is_error": True}``), so the model
    can be asked again.

    Input: ``{"messages": [...]}`` (output ``{"messages": [...]}``) or a list of
    messages (output a list).

    Args:
        schemas: Pydantic models (v2 or v1, named by their class name), tools (their
            ``args_schema``, by tool name) or functions (a schema made from the
            signature, by function name).
        format_error: ``(exception, call, schema) -> str`` for the error text.
        name: the node's name in traces.
        tags: tags added to the node's traces.

    Raises:
        ValueError: a schema of an unsupported kind, or a tool without a Pydantic
            ``args_schema``.
    """

    name: str | None

    def __init__(
        self,
        schemas: Sequence[BaseTool | type[BaseModel] | Callable[..., Any]],
        *,
        format_error: Callable[[BaseException, ToolCall, type[BaseModel]], str] | None = None,
        name: str = "validation",
        tags: list[str] | None = None,
    ) -> None:
        self.name = name
        self.tags = list(tags) if tags else None
        self._format_error = format_error or _default_format_error
        self.schemas_by_name: dict[str, Any] = {}
        for schema in schemas:
            if isinstance(schema, BaseTool):
                args_schema = schema.args_schema
                if args_schema is None:
                    raise ValueError(f"Tool {schema.name} does not have an args_schema defined.")
                if not (isinstance(args_schema, type) and issubclass(args_schema, (BaseModel, BaseModelV1))):
                    raise ValueError(
                        "ValidationNode only works with tools that have a pydantic BaseModel "
                        f"args_schema. Got {schema.name} with args_schema: {args_schema}."
                    )
                self.schemas_by_name[schema.name] = args_schema
            elif isinstance(schema, type) and issubclass(schema, (BaseModel, BaseModelV1)):
                self.schemas_by_name[schema.__name__] = schema
            elif callable(schema):
                self.schemas_by_name[schema.__name__] = create_schema_from_function("Validation", schema)
            else:
                raise ValueError(
                    "Unsupported input to ValidationNode. Expected BaseModel, tool or function. "
                    f"Got: {type(schema)}."
                )

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        base = name or self.name or "validation"
        return f"{base}{suffix}" if suffix else base

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Validate the calls. Validation is quick pure code: no threads, no loop."""
        return self._call_with_config(self._validate_all, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._avalidate_all, input, config)  # type: ignore[arg-type]

    async def _avalidate_all(self, input: Any) -> Any:
        return self._validate_all(input)

    def _validate_all(self, input: list[AnyMessage] | dict[str, Any]) -> Any:
        if isinstance(input, list):
            messages: Any = input
        elif isinstance(input, dict) and input.get("messages"):
            messages = input["messages"]
        else:
            raise ValueError("No message found in input")
        last = messages[-1]
        if not isinstance(last, AIMessage):
            raise ValueError("Last message is not an AIMessage")
        outputs = [self._validate(call) for call in last.tool_calls]
        return outputs if isinstance(input, list) else {"messages": outputs}

    def _validate(self, call: ToolCall) -> ToolMessage:
        name = call["name"]
        schema = self.schemas_by_name.get(name)
        if schema is None:
            raise KeyError(
                f"ValidationNode has no schema named {name!r} (tool call {call['id']!r}); "
                f"it has: {', '.join(map(repr, self.schemas_by_name))}"
            )
        try:
            if issubclass(schema, BaseModel):
                content = schema.model_validate(call["args"]).model_dump_json()
            else:
                content = schema.validate(call["args"]).json()
        except (ValidationError, ValidationErrorV1) as exc:
            return ToolMessage(
                content=self._format_error(exc, call, schema),
                name=name,
                tool_call_id=call["id"] or "",
                additional_kwargs={"is_error": True},
            )
        return ToolMessage(content=content, name=name, tool_call_id=call["id"] or "")

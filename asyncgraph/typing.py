"""Type variables of graphs, as in ``langgraph.typing``.

Libraries parameterize their own generic classes with these (LangChain's
``AgentMiddleware[StateT, ContextT, ResponseT]``). They carry PEP 696 defaults:
``ContextT`` defaults to ``None``, ``InputT`` and ``OutputT`` to ``StateT``.
"""

from __future__ import annotations

from typing_extensions import TypeVar

from asyncgraph._internal._typing import StateLike

__all__ = (
    "ContextT",
    "ContextT_contra",
    "InputT",
    "NodeInputT",
    "NodeInputT_contra",
    "OutputT",
    "StateT",
    "StateT_co",
    "StateT_contra",
)

StateT = TypeVar("StateT", bound=StateLike)
"""The state of a graph."""

StateT_co = TypeVar("StateT_co", bound=StateLike, covariant=True)
StateT_contra = TypeVar("StateT_contra", bound=StateLike, contravariant=True)

ContextT = TypeVar("ContextT", bound=StateLike | None, default=None)
"""The run-scoped context (``invoke(..., context=...)``); defaults to ``None``."""

ContextT_contra = TypeVar("ContextT_contra", bound=StateLike | None, contravariant=True, default=None)

InputT = TypeVar("InputT", bound=StateLike, default=StateT)
"""The input of a graph; defaults to its state."""

OutputT = TypeVar("OutputT", bound=StateLike, default=StateT)
"""The output of a graph; defaults to its state."""

NodeInputT = TypeVar("NodeInputT", bound=StateLike)
"""The input of a node."""

NodeInputT_contra = TypeVar("NodeInputT_contra", bound=StateLike, contravariant=True)

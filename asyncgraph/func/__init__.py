"""The functional API: ``@entrypoint`` and ``@task`` (LangGraph's ``langgraph.func``)."""

from asyncgraph.func._entrypoint import entrypoint
from asyncgraph.func._task import task

__all__ = ["entrypoint", "task"]

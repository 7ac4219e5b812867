"""Checkpoint helpers at LangGraph's path (``langgraph.pregel._checkpoint``), which libraries
built on LangGraph and their test savers import."""

from __future__ import annotations

from asyncgraph.checkpoint.base import copy_checkpoint, empty_checkpoint

__all__ = ["copy_checkpoint", "empty_checkpoint"]

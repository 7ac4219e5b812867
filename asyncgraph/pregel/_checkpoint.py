"""Checkpoint helpers under the path LangGraph keeps them at (its test savers import
``copy_checkpoint`` from here); they live in :mod:`asyncgraph.checkpoint.base`."""

from asyncgraph.checkpoint.base import copy_checkpoint, empty_checkpoint

__all__ = ["copy_checkpoint", "empty_checkpoint"]

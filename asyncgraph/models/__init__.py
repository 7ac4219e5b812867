"""Chat models that ship with asyncgraph: ``LocalChatModel``, an embedded SmolLM2 that
runs offline (the ``local`` extra). Not part of the graph runtime: nothing in the engine
imports this package."""

from asyncgraph.models.local import LocalChatModel, default_model_path

__all__ = ["LocalChatModel", "default_model_path"]

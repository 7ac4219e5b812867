"""``asyncgraph.local_model``: the path the README documented first for the embedded
model; it lives in :mod:`asyncgraph.models.local`. Re-exports only."""

from asyncgraph.models.local import LocalChatModel, default_model_path

__all__ = ["LocalChatModel", "default_model_path"]

"""asyncgraph: stateful LLM agents as graphs, async-first, LangGraph-compatible.

Import from the submodules (``asyncgraph.graph``, ``asyncgraph.types`` ...); this
package root stays light so that ``import asyncgraph`` costs next to nothing (the one
re-export below imports only the standard library's ``importlib``).
"""

from asyncgraph._install import install_as_langgraph

__version__ = "0.1.0"

__all__ = ["__version__", "install_as_langgraph"]

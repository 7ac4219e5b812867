"""asyncgraph: stateful LLM agents as graphs, async-first, LangGraph-compatible.

Import from the submodules (``asyncgraph.graph``, ``asyncgraph.types`` ...); this
package root stays empty so that ``import asyncgraph`` costs nothing.
"""

__version__ = "0.1.0"

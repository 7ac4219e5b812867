"""Private implementation of `asyncgraph.models.local`."""

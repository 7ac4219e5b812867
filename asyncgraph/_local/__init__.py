"""Private implementation of `asyncgraph.local_model`."""

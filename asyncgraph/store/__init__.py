"""Long-term memory shared across threads: see :mod:`asyncgraph.store.base`."""

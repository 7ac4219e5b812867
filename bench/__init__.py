"""Side-by-side benchmarks: asyncgraph against LangGraph, in one run on one machine.

Run ``python -m bench --help``; ``bench/README.md`` describes each workload.
"""

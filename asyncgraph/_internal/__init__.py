"""Private helpers at the paths where LangGraph keeps them (``langgraph._internal.*``).

Libraries built on LangGraph (LangChain's ``create_agent``, langgraph-supervisor) import
a few of LangGraph's private names; these modules provide those names, with the same
behaviour, so the libraries run on asyncgraph after ``install_as_langgraph()``. Only
the names such libraries are known to use are here; asyncgraph itself does not use
them.
"""

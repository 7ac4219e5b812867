"""The graph the auth test server serves: it answers with the caller the server saw."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from typing_extensions import TypedDict

from asyncgraph.graph import START, StateGraph


class Who(TypedDict, total=False):
    user_id: str
    permissions: list[str]
    display_name: str


def who(state: Who, config: RunnableConfig) -> dict[str, Any]:
    conf = config["configurable"]
    return {
        "user_id": conf.get("langgraph_auth_user_id"),
        "permissions": conf.get("langgraph_auth_permissions"),
        "display_name": (conf.get("langgraph_auth_user") or {}).get("display_name"),
    }


_b = StateGraph(Who)
_b.add_node("who", who)
_b.add_edge(START, "who")
whoami = _b.compile()

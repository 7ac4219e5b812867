"""Node timeout helpers under LangGraph's private path ``langgraph._internal._timeout``.

``coerce_timeout_policy`` normalises what ``timeout=`` accepts (seconds, a ``timedelta``
or a :class:`~asyncgraph.types.TimeoutPolicy`) to a policy in float seconds, or None;
``sync_timeout_unsupported`` is the error ``compile()`` raises for a timeout on a sync
node (the engine cannot cancel its thread), ``is_sync_target`` tells such nodes apart.
"""

from __future__ import annotations

from datetime import timedelta

from asyncgraph.pregel._spec import is_sync_target, sync_timeout_unsupported
from asyncgraph.types import TimeoutPolicy

__all__ = ["coerce_timeout_policy", "is_sync_target", "sync_timeout_unsupported"]


def coerce_timeout_policy(value: float | timedelta | TimeoutPolicy | None) -> TimeoutPolicy | None:
    """``value`` as a :class:`TimeoutPolicy` in float seconds (None: no timeout).

    Raises:
        ValueError: a timeout that is not greater than 0, or an unknown ``refresh_on``.
        TypeError: neither a number, a ``timedelta`` nor a ``TimeoutPolicy``.
    """
    return TimeoutPolicy.coerce(value)

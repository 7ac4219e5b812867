"""``TimeoutPolicy``, defined below ``Send`` (which carries one) and re-exported from
:mod:`asyncgraph.types` (its public path; ``__module__`` says so)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Literal

__all__ = ["TimeoutPolicy"]


def _timeout_seconds(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{field} must be a number of seconds or a timedelta, got {value!r}")
    if not seconds > 0:
        raise ValueError(f"{field} must be greater than 0, got {value!r}")
    return seconds


@dataclasses.dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    """How long one attempt of a node may take (``add_node(..., timeout=...)``).

    A plain number or ``timedelta`` given as ``timeout=`` means ``run_timeout``. When a
    timeout fires, the attempt is cancelled and :class:`~asyncgraph.errors.NodeTimeoutError`
    raised; the node's retry policy decides whether it runs again.

    Attributes:
        run_timeout: seconds one attempt may take in all (never extended).
        idle_timeout: seconds one attempt may go without showing progress. Progress is
            ``runtime.heartbeat()`` and, with ``refresh_on="auto"``, anything the node
            streams (``get_stream_writer()`` chunks, chat model tokens and other
            callback events of the node's run).
        refresh_on: ``"auto"`` (progress as above) or ``"heartbeat"`` (only
            ``runtime.heartbeat()`` counts).
    """

    run_timeout: float | timedelta | None = None
    idle_timeout: float | timedelta | None = None
    refresh_on: Literal["auto", "heartbeat"] = "auto"

    @classmethod
    def coerce(cls, value: float | timedelta | TimeoutPolicy | None) -> TimeoutPolicy | None:
        """``value`` as a policy with both timeouts in float seconds (None: no timeout).

        Raises:
            ValueError: a timeout is not greater than 0, or ``refresh_on`` is unknown.
        """
        if value is None:
            return None
        if not isinstance(value, TimeoutPolicy):
            value = cls(run_timeout=value)
        if value.refresh_on not in ("auto", "heartbeat"):
            raise ValueError(f"refresh_on must be 'auto' or 'heartbeat', got {value.refresh_on!r}")
        run = _timeout_seconds(value.run_timeout, "run_timeout")
        idle = _timeout_seconds(value.idle_timeout, "idle_timeout")
        if run is None and idle is None:
            return None
        if (run is None or type(value.run_timeout) is float) and (idle is None or type(value.idle_timeout) is float):
            return value  # already coerced (frozen: safe to share)
        return cls(run_timeout=run, idle_timeout=idle, refresh_on=value.refresh_on)


TimeoutPolicy.__module__ = "asyncgraph.types"

"""``RemoteGraph``: a graph-shaped client of a LangGraph Server API deployment.

It speaks the Server API through ``langgraph_sdk`` (``pip install asyncgraph[remote]``):
``invoke`` / ``stream`` create a run (``POST /threads/{thread_id}/runs/stream``, or
``POST /runs/stream`` without a thread) and read its server-sent events; ``get_state`` /
``update_state`` / ``get_state_history`` read and write the thread's checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs

from asyncgraph.constants import CONF, NS_SEP
from asyncgraph.errors import GraphInterrupt
from asyncgraph.types import Command, GraphOutput, Interrupt, PregelTask, StateSnapshot

__all__ = ["RemoteException", "RemoteGraph"]

_INTERRUPT = "__interrupt__"
_PRIVATE_CONF = frozenset({"checkpoint_id", "checkpoint_ns", "checkpoint_map"})


class RemoteException(Exception):
    """The remote run reported an error (the ``error`` event's payload is the argument)."""


def _plain(v: Any) -> Any:
    """A config value as JSON the server accepts, or None to drop it."""
    if isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        out = {k: p for k, x in v.items() if isinstance(k, str) and (p := _plain(x)) is not None}
        return out
    if isinstance(v, (list, tuple)):
        return [p for x in v if (p := _plain(x)) is not None]
    return None


class RemoteGraph(Runnable[Any, Any]):
    """A deployed graph, used like a compiled one (and usable as a node).

    Args:
        assistant_id: the assistant id or graph name on the server.
        url: the server's base URL; builds the sync and async clients.
        api_key: sent as the API key (else the SDK reads it from the environment).
        headers: extra request headers.
        client / sync_client: ready-made ``langgraph_sdk`` clients, instead of ``url``.
        config: a config merged under every call's.
        name: the name as a node (default: ``assistant_id``).
        distributed_tracing: accepted for LangGraph compatibility.
    """

    def __init__(self, assistant_id: str, /, *, url: str | None = None, api_key: str | None = None,
                 headers: dict[str, str] | None = None, client: Any = None, sync_client: Any = None,
                 config: RunnableConfig | None = None, name: str | None = None,
                 distributed_tracing: bool = False) -> None:
        self.assistant_id = assistant_id
        self.name = assistant_id if name is None else name
        self.config = config
        self.distributed_tracing = distributed_tracing
        if (client is None or sync_client is None) and url is not None:
            from langgraph_sdk import get_client, get_sync_client  # optional dependency: import when used

            client = client or get_client(url=url, api_key=api_key, headers=headers)
            sync_client = sync_client or get_sync_client(url=url, api_key=api_key, headers=headers)
        self.client = client
        self.sync_client = sync_client

    def _async(self) -> Any:
        if self.client is None:
            raise ValueError("Async client is not initialized: please provide `url` or `client` when initializing `RemoteGraph`.")
        return self.client

    def _sync(self) -> Any:
        if self.sync_client is None:
            raise ValueError("Sync client is not initialized: please provide `url` or `sync_client` when initializing `RemoteGraph`.")
        return self.sync_client

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> RemoteGraph:  # type: ignore[override]
        return RemoteGraph(self.assistant_id, client=self.client, sync_client=self.sync_client,
                           config=merge_configs(self.config, config, kwargs),  # type: ignore[arg-type]
                           name=self.name, distributed_tracing=self.distributed_tracing)

    # -- state ---------------------------------------------------------------------------

    @staticmethod
    def _checkpoint(config: RunnableConfig) -> dict[str, Any] | None:
        conf = config.get(CONF, {})
        cp: dict[str, Any] = {k: conf[k] for k in ("thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map") if k in conf}
        return cp or None

    @staticmethod
    def _config_of(cp: dict[str, Any]) -> RunnableConfig:
        return {CONF: {"thread_id": cp["thread_id"], "checkpoint_ns": cp["checkpoint_ns"],
                       "checkpoint_id": cp["checkpoint_id"], "checkpoint_map": cp.get("checkpoint_map", {})}}

    def _snapshot(self, state: dict[str, Any]) -> StateSnapshot:
        tasks = []
        for t in state.get("tasks") or ():
            sub = t.get("state")
            tasks.append(PregelTask(
                id=t["id"], name=t["name"], path=(),
                error=Exception(t["error"]) if t.get("error") else None,
                interrupts=tuple(Interrupt(**i) for i in t.get("interrupts") or ()),
                state=self._snapshot(sub) if sub else ({CONF: t["checkpoint"]} if t.get("checkpoint") else None),
                result=t.get("result"),
            ))
        parent = state.get("parent_checkpoint")
        return StateSnapshot(
            values=state["values"],
            next=tuple(state.get("next") or ()),
            config=self._config_of(state["checkpoint"]),
            metadata=state.get("metadata"),
            created_at=state.get("created_at"),
            parent_config=self._config_of(parent) if parent else None,
            tasks=tuple(tasks),
            interrupts=tuple(i for t in tasks for i in t.interrupts),
        )

    def _thread(self, config: RunnableConfig | None) -> tuple[RunnableConfig, str]:
        merged = merge_configs(self.config, config)
        return merged, merged[CONF]["thread_id"]

    def get_state(self, config: RunnableConfig, *, subgraphs: bool = False, headers: dict[str, str] | None = None,
                  params: Any = None) -> StateSnapshot:
        """The thread's state (at the config's checkpoint, if it names one)."""
        merged, tid = self._thread(config)
        state = self._sync().threads.get_state(thread_id=tid, checkpoint=self._checkpoint(merged),
                                               subgraphs=subgraphs, headers=headers, params=params)
        return self._snapshot(state)

    async def aget_state(self, config: RunnableConfig, *, subgraphs: bool = False,
                         headers: dict[str, str] | None = None, params: Any = None) -> StateSnapshot:
        merged, tid = self._thread(config)
        state = await self._async().threads.get_state(thread_id=tid, checkpoint=self._checkpoint(merged),
                                                      subgraphs=subgraphs, headers=headers, params=params)
        return self._snapshot(state)

    def get_state_history(self, config: RunnableConfig, *, filter: dict[str, Any] | None = None,
                          before: RunnableConfig | None = None, limit: int | None = None,
                          headers: dict[str, str] | None = None, params: Any = None) -> Iterator[StateSnapshot]:
        """The thread's checkpoints, newest first."""
        merged, tid = self._thread(config)
        states = self._sync().threads.get_history(
            thread_id=tid, limit=limit if limit else 10, before=self._checkpoint(before) if before else None,
            metadata=filter, checkpoint=self._checkpoint(merged), headers=headers, params=params)
        for s in states:
            yield self._snapshot(s)

    async def aget_state_history(self, config: RunnableConfig, *, filter: dict[str, Any] | None = None,
                                 before: RunnableConfig | None = None, limit: int | None = None,
                                 headers: dict[str, str] | None = None, params: Any = None) -> AsyncIterator[StateSnapshot]:
        merged, tid = self._thread(config)
        states = await self._async().threads.get_history(
            thread_id=tid, limit=limit if limit else 10, before=self._checkpoint(before) if before else None,
            metadata=filter, checkpoint=self._checkpoint(merged), headers=headers, params=params)
        for s in states:
            yield self._snapshot(s)

    def update_state(self, config: RunnableConfig, values: Any, as_node: str | None = None, *,
                     headers: dict[str, str] | None = None, params: Any = None) -> RunnableConfig:
        """Write ``values`` to the thread as if ``as_node`` had; the new checkpoint's config."""
        merged, tid = self._thread(config)
        out = self._sync().threads.update_state(thread_id=tid, values=values, as_node=as_node,
                                                checkpoint=self._checkpoint(merged), headers=headers, params=params)
        return self._config_of(out["checkpoint"])

    async def aupdate_state(self, config: RunnableConfig, values: Any, as_node: str | None = None, *,
                            headers: dict[str, str] | None = None, params: Any = None) -> RunnableConfig:
        merged, tid = self._thread(config)
        out = await self._async().threads.update_state(thread_id=tid, values=values, as_node=as_node,
                                                       checkpoint=self._checkpoint(merged), headers=headers,
                                                       params=params)
        return self._config_of(out["checkpoint"])

    # -- runs ----------------------------------------------------------------------------

    def _run_args(self, input: Any, config: RunnableConfig | None, stream_mode: Any, subgraphs: bool,
                  kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str], bool, tuple[str, ...]]:
        """The SDK call's arguments; the modes asked for; one mode or several; the
        caller's namespace (when this runs as a node)."""
        merged = merge_configs(self.config, config)
        sent: dict[str, Any] = {}
        if "recursion_limit" in merged:
            sent["recursion_limit"] = merged["recursion_limit"]
        if merged.get("tags"):
            sent["tags"] = [t for t in merged["tags"] if isinstance(t, str)]
        if merged.get("metadata"):
            sent["metadata"] = _plain(merged["metadata"])
        conf = {k: v for k, v in (merged.get(CONF) or {}).items()
                if isinstance(k, str) and not k.startswith("__") and k not in _PRIVATE_CONF}
        conf = _plain(conf)
        if conf:
            sent[CONF] = conf
        thread_id = (sent.get(CONF) or {}).pop("thread_id", None)
        single = stream_mode is None or isinstance(stream_mode, str)
        wanted = [stream_mode or "updates"] if single else list(stream_mode)
        modes = ["messages-tuple" if m == "messages" else m for m in wanted]
        if "updates" not in modes:
            modes.append("updates")  # to see interrupts
        command = None
        if isinstance(input, Command):
            command = dataclasses.asdict(input)  # the SDK leaves out the None fields
            input = None
        caller = ((config or {}).get(CONF) or {}).get("checkpoint_ns") or ""
        call = dict(thread_id=thread_id, assistant_id=self.assistant_id, input=input, command=command, config=sent,
                    stream_mode=modes, stream_subgraphs=subgraphs, if_not_exists="create", **kwargs)
        return call, [m.replace("messages-tuple", "messages") for m in wanted], single, \
            tuple(caller.split(NS_SEP)) if caller else ()

    @staticmethod
    def _shape(chunk: Any, wanted: list[str], single: bool, subgraphs: bool, version: str,
               caller: tuple[str, ...]) -> tuple[bool, Any]:
        """``(keep, item)`` for one server event; raises its error, or (as a node) its
        interrupt."""
        event, data = chunk.event, chunk.data
        mode, _, rest = event.partition(NS_SEP)
        ns = caller + (tuple(rest.split(NS_SEP)) if rest else ())
        if mode == "error":
            raise RemoteException(data)
        if mode == "updates" and caller and isinstance(data, dict) and _INTERRUPT in data:
            raise GraphInterrupt([Interrupt(**i) for i in data[_INTERRUPT]])
        if mode == "messages-tuple":
            mode = "messages"
        if mode not in wanted or (rest and not subgraphs and mode != "messages"):
            return False, None
        if mode == "messages":
            data = tuple(data)
        if version == "v2":
            ints: tuple[Any, ...] = ()
            if mode == "values" and isinstance(data, dict):
                ints = tuple(Interrupt(**i) if isinstance(i, dict) else i for i in data.pop(_INTERRUPT, ()))
            return True, {"type": mode, "ns": ns, "data": data, "interrupts": ints}
        if subgraphs:
            return True, (ns, data) if single else (ns, mode, data)
        # Several modes, no subgraphs: LangGraph yields the SDK's own event record.
        return True, data if single else chunk._replace(data=data)

    def stream(self, input: Any, config: RunnableConfig | None = None, *, context: Any = None,  # type: ignore[override]
               stream_mode: Any = None, interrupt_before: Any = None, interrupt_after: Any = None,
               subgraphs: bool = False, headers: dict[str, str] | None = None, params: Any = None,
               version: str = "v1", **kwargs: Any) -> Iterator[Any]:
        """Create a run and yield its stream, shaped as a local graph's ``stream``."""
        call, wanted, single, caller = self._run_args(input, config, stream_mode, subgraphs, kwargs)
        for chunk in self._sync().runs.stream(**call, context=context, interrupt_before=interrupt_before,
                                              interrupt_after=interrupt_after, headers=headers, params=params):
            keep, item = self._shape(chunk, wanted, single, subgraphs, version, caller)
            if keep:
                yield item

    async def astream(self, input: Any, config: RunnableConfig | None = None, *, context: Any = None,  # type: ignore[override]
                      stream_mode: Any = None, interrupt_before: Any = None, interrupt_after: Any = None,
                      subgraphs: bool = False, headers: dict[str, str] | None = None, params: Any = None,
                      version: str = "v1", **kwargs: Any) -> AsyncIterator[Any]:
        call, wanted, single, caller = self._run_args(input, config, stream_mode, subgraphs, kwargs)
        async for chunk in self._async().runs.stream(**call, context=context, interrupt_before=interrupt_before,
                                                     interrupt_after=interrupt_after, headers=headers, params=params):
            keep, item = self._shape(chunk, wanted, single, subgraphs, version, caller)
            if keep:
                yield item

    @staticmethod
    def _output(last: Any, version: str) -> Any:
        if version == "v2":
            if last is None:
                return None
            return GraphOutput(value=last["data"], interrupts=tuple(last.get("interrupts", ())))
        return last

    def invoke(self, input: Any, config: RunnableConfig | None = None, *, context: Any = None,  # type: ignore[override]
               interrupt_before: Any = None, interrupt_after: Any = None, headers: dict[str, str] | None = None,
               params: Any = None, version: str = "v1", **kwargs: Any) -> Any:
        """Create a run, wait for it, and return the final state (``None`` if the server
        sent no state)."""
        last = None
        for last in self.stream(input, config, context=context, interrupt_before=interrupt_before,
                                interrupt_after=interrupt_after, headers=headers, params=params,
                                stream_mode="values", version=version, **kwargs):
            pass
        return self._output(last, version)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, *, context: Any = None,  # type: ignore[override]
                      interrupt_before: Any = None, interrupt_after: Any = None, headers: dict[str, str] | None = None,
                      params: Any = None, version: str = "v1", **kwargs: Any) -> Any:
        last = None
        async for last in self.astream(input, config, context=context, interrupt_before=interrupt_before,
                                       interrupt_after=interrupt_after, headers=headers, params=params,
                                       stream_mode="values", version=version, **kwargs):
            pass
        return self._output(last, version)

    def get_graph(self, config: RunnableConfig | None = None, *, xray: int | bool = False) -> Any:
        """The remote graph's drawable graph (``GET /assistants/{id}/graph``)."""
        from langchain_core.runnables.graph import Graph, Node

        data = self._sync().assistants.get_graph(assistant_id=self.assistant_id, xray=xray)
        graph = Graph()
        for n in data.get("nodes", ()):
            graph.nodes[str(n["id"])] = Node(id=str(n["id"]), name=str(n.get("name") or n["id"]), data=n.get("data"),
                                             metadata=n.get("metadata"))
        for e in data.get("edges", ()):
            graph.add_edge(graph.nodes[str(e["source"])], graph.nodes[str(e["target"])], e.get("data"),
                           e.get("conditional", False))
        return graph

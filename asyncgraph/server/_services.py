"""Assistants and threads: the server's business rules over :class:`Storage`.

Runs live in :mod:`asyncgraph.server._runs`. Nothing here knows about HTTP; errors are
:class:`ApiError` with the status the API answers.
"""

from __future__ import annotations

import gc
import uuid
import warnings
from typing import Any

from asyncgraph._async import in_thread
from asyncgraph.server._auth import Filter, matches
from asyncgraph.server._errors import ApiError, not_found
from asyncgraph.server._graphs import GraphRegistry, system_assistant_id
from asyncgraph.server._serialize import to_jsonable
from asyncgraph.server._state import copy_checkpoints, empty_state, snapshot_to_dict
from asyncgraph.server._storage import Storage, now
from asyncgraph.warnings import LangGraphDeprecationWarning

__all__ = ["Services", "freeze_startup_heap", "thread_state_fields"]


def freeze_startup_heap() -> None:
    """Take what start-up built (modules, the graphs, langchain-core) out of the collector.

    A server process holds ~100,000 objects after importing langchain-core and compiling
    its graphs; every full collection walks all of them again: ~300 ms on this 2-core
    machine, a pause that lands on whichever streams are open (time to first event p99).
    Frozen, a full collection walks only what runs allocated (~60 ms). Called by the
    command-line entry points once the app is built, not by ``create_app`` (a test process
    builds many apps, and frozen objects are never freed).
    """
    gc.collect()
    gc.freeze()

THREAD_STATUSES = ("idle", "busy", "interrupted", "error")


def _matches(meta: dict[str, Any], want: dict[str, Any] | None) -> bool:
    return all(meta.get(k) == v for k, v in (want or {}).items())


VERSIONED = ("graph_id", "config", "context", "metadata", "name", "description", "version")
"""The fields an assistant version keeps (``set_latest`` brings them back)."""


def _public(assistant: dict[str, Any]) -> dict[str, Any]:
    """An assistant as the API shows it: without its stored versions."""
    return {k: v for k, v in assistant.items() if k != "_versions"}


def _version(assistant: dict[str, Any]) -> dict[str, Any]:
    snap = {k: assistant[k] for k in VERSIONED if k in assistant}
    snap.update(assistant_id=assistant["assistant_id"], created_at=assistant["updated_at"])
    return snap


def _page(items: list[dict[str, Any]], body: dict[str, Any], default_sort: str) -> list[dict[str, Any]]:
    sort_by = body.get("sort_by") or default_sort
    reverse = (body.get("sort_order") or "desc") == "desc"
    items.sort(key=lambda x: str(x.get(sort_by, "")), reverse=reverse)
    offset = int(body.get("offset") or 0)
    limit = int(body.get("limit") or 10)
    out = items[offset : offset + limit]
    if select := body.get("select"):
        out = [{k: v for k, v in x.items() if k in select} for x in out]
    return out


class Services:
    """Assistants and threads over one storage and one graph registry."""

    def __init__(self, storage: Storage, graphs: GraphRegistry) -> None:
        self.storage = storage
        self.graphs = graphs

    @property
    def checkpointer(self) -> Any:
        return self.graphs.checkpointer

    # ---- assistants -------------------------------------------------------------------
    async def ensure_system_assistants(self) -> None:
        for graph_id in self.graphs.graph_ids:
            aid = system_assistant_id(graph_id)
            if await self.storage.get_assistant(aid) is None:
                ts = now()
                await self.storage.put_assistant(
                    {
                        "assistant_id": aid,
                        "graph_id": graph_id,
                        "config": {},
                        "context": {},
                        "metadata": {"created_by": "system"},
                        "name": graph_id,
                        "description": None,
                        "version": 1,
                        "created_at": ts,
                        "updated_at": ts,
                    }
                )

    async def get_assistant(self, assistant_id: str) -> dict[str, Any]:
        return _public(await self._assistant(assistant_id))

    async def _assistant(self, assistant_id: str) -> dict[str, Any]:
        """The stored record, versions included; a graph id names its system assistant."""
        a = await self.storage.get_first_assistant(self._assistant_ids(assistant_id))
        if a is None:
            raise not_found("assistant", assistant_id)
        return a

    def _assistant_ids(self, assistant_id: str) -> list[str]:
        ids = [assistant_id]
        if assistant_id in self.graphs.graph_ids:
            ids.append(system_assistant_id(assistant_id))
        return ids

    async def get_assistant_and_thread(self, assistant_id: str, thread_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """:meth:`get_assistant` and the thread's stored record (None: no such thread), in
        one storage call."""
        a, thread = await self.storage.get_first_assistant_and_thread(self._assistant_ids(assistant_id), thread_id)
        if a is None:
            raise not_found("assistant", assistant_id)
        return _public(a), thread

    def _check_graph(self, graph_id: Any) -> str:
        if not isinstance(graph_id, str) or graph_id not in self.graphs.graph_ids:
            known = ", ".join(sorted(self.graphs.graph_ids))
            raise ApiError(404, f"graph {graph_id!r} not found in langgraph.json (known: {known})")
        return graph_id

    async def create_assistant(self, body: dict[str, Any]) -> dict[str, Any]:
        graph_id = self._check_graph(body.get("graph_id"))
        aid = body.get("assistant_id") or str(uuid.uuid4())
        existing = await self.storage.get_assistant(aid)
        if existing is not None:
            if body.get("if_exists") == "do_nothing":
                return _public(existing)
            raise ApiError(409, f"assistant {aid!r} already exists")
        ts = now()
        a = {
            "assistant_id": aid,
            "graph_id": graph_id,
            "config": body.get("config") or {},
            "context": body.get("context") or {},
            "metadata": body.get("metadata") or {},
            "name": body.get("name") or "Untitled",
            "description": body.get("description"),
            "version": 1,
            "created_at": ts,
            "updated_at": ts,
        }
        a["_versions"] = [_version(a)]
        await self.storage.put_assistant(a)
        return _public(a)

    async def update_assistant(self, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new version with ``body``'s changes; it becomes the latest."""
        a = await self._assistant(assistant_id)
        versions = a.get("_versions") or [_version(a)]
        if "graph_id" in body:
            a["graph_id"] = self._check_graph(body["graph_id"])
        for key in ("config", "context", "name", "description"):
            if key in body:
                a[key] = body[key]
        if "metadata" in body:
            a["metadata"] = {**a["metadata"], **(body["metadata"] or {})}
        a["version"] = max(v["version"] for v in versions) + 1
        a["updated_at"] = now()
        a["_versions"] = [*versions, _version(a)]
        await self.storage.put_assistant(a)
        return _public(a)

    async def assistant_versions(self, assistant_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every version, newest first (``metadata`` filters, ``limit`` / ``offset`` page)."""
        a = await self._assistant(assistant_id)
        found = [v for v in a.get("_versions") or [_version(a)] if _matches(v.get("metadata") or {}, body.get("metadata"))]
        found.sort(key=lambda v: v["version"], reverse=True)
        offset = int(body.get("offset") or 0)
        return found[offset : offset + int(body.get("limit") or 10)]

    async def set_latest(self, assistant_id: str, version: Any) -> dict[str, Any]:
        """Make ``version`` the assistant's current one (what new runs use)."""
        a = await self._assistant(assistant_id)
        versions = a.get("_versions") or [_version(a)]
        chosen = next((v for v in versions if v["version"] == version), None)
        if chosen is None:
            have = ", ".join(str(v["version"]) for v in versions)
            raise ApiError(404, f"assistant {assistant_id!r} has no version {version!r} (versions: {have})")
        a.update({k: chosen[k] for k in VERSIONED if k in chosen})
        a["updated_at"] = now()
        await self.storage.put_assistant(a)
        return _public(a)

    async def delete_assistant(self, assistant_id: str) -> None:
        a = await self._assistant(assistant_id)
        await self.storage.delete_assistant(a["assistant_id"])

    async def search_assistants(self, body: dict[str, Any], *, where: Filter | None = None) -> list[dict[str, Any]]:
        """``where``: the caller's auth filter; what it hides is not found."""
        items = [
            _public(a)
            for a in await self.storage.list_assistants()
            if _matches(a["metadata"], body.get("metadata"))
            and matches(where, a["metadata"])
            and (not body.get("graph_id") or a["graph_id"] == body["graph_id"])
            and (not body.get("name") or body["name"].lower() in (a.get("name") or "").lower())
        ]
        return _page(items, body, "created_at")

    async def count_assistants(self, body: dict[str, Any], *, where: Filter | None = None) -> int:
        return len(await self.search_assistants({**body, "limit": 1 << 30, "offset": 0}, where=where))

    async def assistant_graph(self, assistant_id: str) -> Any:
        a = await self.get_assistant(assistant_id)
        return await self.graphs.get(a["graph_id"], {"configurable": a["config"].get("configurable", {})})

    # Drawing a graph and generating its JSON schemas (pydantic) are CPU work of up to
    # seconds for a large graph: they run in a worker thread, so the event loop keeps
    # serving other requests and streams meanwhile.
    async def get_graph_drawing(self, assistant_id: str, xray: int | bool) -> dict[str, Any]:
        graph = await self.assistant_graph(assistant_id)
        return await in_thread(lambda: to_jsonable(graph.get_graph(xray=xray).to_json()))

    async def get_schemas(self, assistant_id: str) -> dict[str, Any]:
        a = await self.get_assistant(assistant_id)
        graph = await self.assistant_graph(assistant_id)
        config_schema = _config_schema(graph)
        return await in_thread(_schemas, a["graph_id"], graph, config_schema)

    async def get_subgraphs(self, assistant_id: str, namespace: str | None, recurse: bool) -> dict[str, Any]:
        """``{namespace: schemas}`` of the subgraphs added as nodes (``recurse``: theirs too)."""
        a = await self.get_assistant(assistant_id)
        graph = await self.assistant_graph(assistant_id)
        subs = [(ns, sub, _config_schema(sub)) for ns, sub in graph.get_subgraphs(namespace=namespace, recurse=recurse)]
        return await in_thread(lambda: {ns: _schemas(a["graph_id"], sub, config) for ns, sub, config in subs})

    # ---- threads ----------------------------------------------------------------------
    async def get_thread(self, thread_id: str) -> dict[str, Any]:
        t = await self.storage.get_thread(thread_id)
        if t is None:
            raise not_found("thread", thread_id)
        return t

    async def create_thread(self, body: dict[str, Any], *, thread_id: str | None = None) -> dict[str, Any]:
        tid = thread_id or body.get("thread_id") or str(uuid.uuid4())
        ts = now()
        t = {
            "thread_id": tid,
            "created_at": ts,
            "updated_at": ts,
            "metadata": body.get("metadata") or {},
            "status": "idle",
            "values": None,
            "interrupts": {},
        }
        existing = await self.storage.insert_thread(t)
        if existing is not None:
            if body.get("if_exists") == "do_nothing":
                return existing
            raise ApiError(409, f"thread {tid!r} already exists")
        return t

    async def update_thread(self, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
        t = await self.get_thread(thread_id)
        t["metadata"] = {**t["metadata"], **(body.get("metadata") or {})}
        t["updated_at"] = now()
        await self.storage.put_thread(t)
        return t

    async def delete_thread(self, thread_id: str) -> None:
        await self.get_thread(thread_id)
        await self.storage.delete_thread(thread_id)
        await self.checkpointer.adelete_thread(thread_id)

    async def search_threads(self, body: dict[str, Any], *, where: Filter | None = None) -> list[dict[str, Any]]:
        """``where``: the caller's auth filter; what it hides is not found."""
        ids = body.get("ids")
        values = body.get("values") or {}
        items = [
            t
            for t in await self.storage.list_threads()
            if _matches(t["metadata"], body.get("metadata"))
            and matches(where, t["metadata"])
            and (not body.get("status") or t["status"] == body["status"])
            and (not ids or t["thread_id"] in ids)
            and (not values or _matches(t.get("values") or {}, values))
        ]
        return _page(items, body, "created_at")

    async def count_threads(self, body: dict[str, Any], *, where: Filter | None = None) -> int:
        return len(await self.search_threads({**body, "limit": 1 << 30, "offset": 0}, where=where))

    async def copy_thread(self, thread_id: str) -> dict[str, Any]:
        src = await self.get_thread(thread_id)
        new = await self.create_thread({"metadata": src["metadata"]})
        await copy_checkpoints(self.checkpointer, thread_id, new["thread_id"])
        new.update(values=src.get("values"), interrupts=src.get("interrupts", {}), status=src["status"])
        if new["status"] == "busy":
            new["status"] = "idle"
        await self.storage.put_thread(new)
        return new

    async def thread_graph(self, thread: dict[str, Any]) -> Any | None:
        graph_id = thread["metadata"].get("graph_id")
        if graph_id is None or graph_id not in self.graphs.graph_ids:
            return None
        return await self.graphs.get(graph_id, {"configurable": {"thread_id": thread["thread_id"]}})

    def _config(self, thread_id: str, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
        conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
        for k, v in (checkpoint or {}).items():
            if k in ("checkpoint_id", "checkpoint_ns", "checkpoint_map") and v is not None:
                conf[k] = v
        return {"configurable": conf}

    async def get_state(
        self, thread_id: str, checkpoint: dict[str, Any] | None = None, subgraphs: bool = False
    ) -> dict[str, Any]:
        t = await self.get_thread(thread_id)
        graph = await self.thread_graph(t)
        if graph is None:
            return empty_state(thread_id)
        snap = await graph.aget_state(self._config(thread_id, checkpoint), subgraphs=subgraphs)
        return snapshot_to_dict(snap)

    async def update_state(self, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
        t = await self.get_thread(thread_id)
        graph = await self.thread_graph(t)
        if graph is None:
            raise ApiError(409, f"thread {thread_id!r} has no graph yet: run it once before update_state")
        checkpoint = dict(body.get("checkpoint") or {})
        if body.get("checkpoint_id"):
            checkpoint["checkpoint_id"] = body["checkpoint_id"]
        try:
            new_config = await graph.aupdate_state(
                self._config(thread_id, checkpoint), body.get("values"), as_node=body.get("as_node")
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(422, f"update_state on thread {thread_id!r}: {exc}") from exc
        await self.refresh_thread(thread_id, graph, status=None)
        return {"checkpoint": new_config["configurable"]}

    async def get_history(self, thread_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        t = await self.get_thread(thread_id)
        graph = await self.thread_graph(t)
        if graph is None:
            return []
        before = body.get("before")
        if isinstance(before, str):
            before = {"checkpoint_id": before}
        out = []
        limit = int(body.get("limit") or 10)
        async for snap in graph.aget_state_history(
            self._config(thread_id, body.get("checkpoint")),
            filter=body.get("metadata") or None,
            before=self._config(thread_id, before) if before else None,
            limit=limit,
        ):
            out.append(snapshot_to_dict(snap))
        return out

    async def refresh_thread(self, thread_id: str, graph: Any, *, status: str | None,
                             thread: dict[str, Any] | None = None, state: Any = None) -> None:
        """Copy the latest checkpoint's values and interrupts onto the thread record.

        ``thread``: the record, if the caller has just read it; ``state``: the graph's
        latest state, if the caller has it (each saves a read).
        """
        t = thread if thread is not None else await self.storage.get_thread(thread_id)
        if t is None:
            return
        snap = state if state is not None else await graph.aget_state({"configurable": {"thread_id": thread_id}})
        if status is None and t["status"] == "busy":
            status = "busy"
        t.update(thread_state_fields(snap, status))
        await self.storage.put_thread(t)


def thread_state_fields(snap: Any, status: str | None) -> dict[str, Any]:
    """What a thread's record shows of the graph's state ``snap``: its values, its
    interrupts by task, and ``status`` (None: ``interrupted`` if the graph has more to do,
    else ``idle``)."""
    interrupts: dict[str, list[Any]] = {}
    for task in snap.tasks:
        if task.interrupts:
            interrupts[task.id] = to_jsonable(list(task.interrupts))
    return {
        "values": to_jsonable(snap.values),
        "interrupts": interrupts,
        "status": status if status is not None else ("interrupted" if snap.next else "idle"),
        "updated_at": now(),
    }


def _config_schema(graph: Any) -> Any:
    """The config schema, which ``get_schemas`` still answers with although the method is
    deprecated (it warns; the caller did not ask for a deprecated name). Called on the
    event loop's thread: ``warnings.catch_warnings`` swaps process-wide filters, so two
    threads using it at once can leave a filter behind."""
    fn = getattr(graph, "get_config_jsonschema", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LangGraphDeprecationWarning)
            return to_jsonable(fn()) if fn is not None else None
    except Exception:
        return None


def _schemas(graph_id: str, graph: Any, config_schema: Any) -> dict[str, Any]:
    """The JSON schemas ``get_schemas`` answers with (None where the graph has none)."""

    def schema(name: str) -> Any:
        fn = getattr(graph, name, None)
        try:
            return to_jsonable(fn()) if fn is not None else None
        except Exception:
            return None

    input_schema = schema("get_input_jsonschema")
    return {
        "graph_id": graph_id,
        "input_schema": input_schema,
        "output_schema": schema("get_output_jsonschema"),
        "state_schema": input_schema,
        "config_schema": config_schema,
        "context_schema": schema("get_context_jsonschema"),
    }

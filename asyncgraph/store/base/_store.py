"""BaseStore: the convenience API over ``batch`` / ``abatch``.

A back end implements ``batch(ops)`` and ``abatch(ops)``: execute the ops in order and
return one result per op (``Item | None`` for a get, a list of ``SearchItem`` for a
search, a list of namespace tuples for a listing, None for a put). Everything else is
defined here, so every store validates its input the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from asyncgraph.store.base._types import (
    NOT_PROVIDED,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    NamespacePath,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_labels,
    validate_namespace,
    validate_value,
)

__all__ = ["BaseStore"]


class BaseStore(ABC):
    """A key-value store of dict values under hierarchical namespaces, shared by every
    thread of a graph (``compile(store=...)``), with optional semantic search and TTL.

    Subclasses set ``supports_ttl = True`` if they honour ``ttl=``; a ``ttl`` given to a
    store that does not raises ``NotImplementedError``.
    """

    supports_ttl: bool = False
    ttl_config: TTLConfig | None = None
    index_config: IndexConfig | None = None

    @abstractmethod
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ``ops`` in order; one result per op."""

    @abstractmethod
    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute ``ops`` in order; one result per op."""

    # -- op builders (shared by the sync and async methods) -------------------------------

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        if refresh_ttl is not None:
            return refresh_ttl
        if self.ttl_config is not None:
            return self.ttl_config.get("refresh_on_read", True)
        return True

    def _get_op(self, namespace: tuple[str, ...], key: str, refresh_ttl: bool | None) -> GetOp:
        validate_labels(namespace)
        return GetOp(namespace, str(key), self._refresh(refresh_ttl))

    def _search_op(
        self,
        namespace_prefix: tuple[str, ...],
        query: str | None,
        filter: dict[str, Any] | None,
        limit: int,
        offset: int,
        refresh_ttl: bool | None,
    ) -> SearchOp:
        validate_labels(namespace_prefix)
        return SearchOp(namespace_prefix, filter, limit, offset, query, self._refresh(refresh_ttl))

    def _put_op(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None,
        ttl: float | None | NotProvided,
    ) -> PutOp:
        validate_namespace(namespace)
        validate_value(namespace, key, value)
        if ttl is not NOT_PROVIDED and ttl is not None and not self.supports_ttl:
            raise NotImplementedError(
                f"TTL is not supported by {type(self).__name__}: use a store that supports "
                "it or pass ttl=None"
            )
        if ttl is NOT_PROVIDED:
            ttl = self.ttl_config.get("default_ttl") if self.ttl_config else None
        return PutOp(namespace, str(key), value, index=index, ttl=ttl)  # type: ignore[arg-type]

    def _delete_op(self, namespace: tuple[str, ...], key: str) -> PutOp:
        validate_labels(namespace)
        return PutOp(namespace, str(key), None, ttl=None)

    @staticmethod
    def _list_op(
        prefix: NamespacePath | None,
        suffix: NamespacePath | None,
        max_depth: int | None,
        limit: int,
        offset: int,
    ) -> ListNamespacesOp:
        validate_labels(tuple(prefix or ()))
        validate_labels(tuple(suffix or ()))
        conditions = []
        if prefix:
            conditions.append(MatchCondition("prefix", tuple(prefix)))
        if suffix:
            conditions.append(MatchCondition("suffix", tuple(suffix)))
        return ListNamespacesOp(tuple(conditions), max_depth, limit, offset)

    # -- sync ------------------------------------------------------------------------------

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """The item at ``(namespace, key)``, or None.

        ``refresh_ttl`` (default: the store's ``refresh_on_read``, True) restarts the
        item's TTL clock.
        """
        return self.batch([self._get_op(namespace, key, refresh_ttl)])[0]  # type: ignore[return-value]

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        """Items whose namespace starts with ``namespace_prefix``.

        ``filter`` keeps items whose value matches (``{"k": v}`` or ``{"k": {"$gt": 1}}``,
        operators ``$eq $ne $gt $gte $lt $lte``); ``query`` ranks them by similarity
        (needs ``index=``), best first, with ``score`` set; ``limit``/``offset`` page.

        Raises:
            ValueError: an unknown filter operator.
        """
        op = self._search_op(namespace_prefix, query, filter, limit, offset, refresh_ttl)
        return self.batch([op])[0]  # type: ignore[return-value]

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        """Store ``value`` (a dict) at ``(namespace, key)``, replacing any item there.

        ``index``: which parts to embed for semantic search (None: the store's fields,
        False: none). ``ttl``: minutes until it expires (default: the store's
        ``default_ttl``; None: never).

        Raises:
            InvalidNamespaceError: a bad namespace. TypeError: ``value`` is not a dict.
            NotImplementedError: ``ttl`` on a store without TTL support.
        """
        self.batch([self._put_op(namespace, key, value, index, ttl)])

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete the item at ``(namespace, key)`` (nothing happens if there is none)."""
        self.batch([self._delete_op(namespace, key)])

    def list_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """The namespaces holding items, sorted, filtered by ``prefix`` / ``suffix``
        (``"*"`` matches any label) and cut to ``max_depth`` labels (deduplicated)."""
        return self.batch([self._list_op(prefix, suffix, max_depth, limit, offset)])[0]  # type: ignore[return-value]

    # -- async -----------------------------------------------------------------------------

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> Item | None:
        """Async :meth:`get`."""
        return (await self.abatch([self._get_op(namespace, key, refresh_ttl)]))[0]  # type: ignore[return-value]

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        """Async :meth:`search`."""
        op = self._search_op(namespace_prefix, query, filter, limit, offset, refresh_ttl)
        return (await self.abatch([op]))[0]  # type: ignore[return-value]

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | None | NotProvided = NOT_PROVIDED,
    ) -> None:
        """Async :meth:`put`."""
        await self.abatch([self._put_op(namespace, key, value, index, ttl)])

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """Async :meth:`delete`."""
        await self.abatch([self._delete_op(namespace, key)])

    async def alist_namespaces(
        self,
        *,
        prefix: NamespacePath | None = None,
        suffix: NamespacePath | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Async :meth:`list_namespaces`."""
        op = self._list_op(prefix, suffix, max_depth, limit, offset)
        return (await self.abatch([op]))[0]  # type: ignore[return-value]

"""The store's data shapes: items, the four operations, configs, and input validation.

A store holds JSON-like dict values under ``(namespace, key)``, where a namespace is a
non-empty tuple of string labels. Labels may not contain ``.`` (SQL back ends store a
namespace as its labels joined by dots) or NUL, and the first one may not be
``"langgraph"`` (reserved). Every store executes lists of :data:`Op` in ``batch`` /
``abatch``; the convenience methods (``get``, ``put``, ...) build those ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple, TypedDict

__all__ = [
    "NOT_PROVIDED",
    "GetOp",
    "IndexConfig",
    "InvalidNamespaceError",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "NamespaceMatchType",
    "NamespacePath",
    "NotProvided",
    "Op",
    "PutOp",
    "Result",
    "SearchItem",
    "SearchOp",
    "TTLConfig",
]


class NotProvided:
    """The type of :data:`NOT_PROVIDED`: "use the store's default" (falsy)."""

    __slots__ = ()

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_PROVIDED = NotProvided()


def _as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Epoch(float):
    """A timestamp a store recorded as seconds since the Unix epoch (``time.time()``).

    An :class:`Item` holding one turns it into ``datetime.fromtimestamp(seconds,
    timezone.utc)`` the first time the timestamp is read, and keeps that datetime: the
    value a user sees is the one an eager conversion would have made, and a store that
    writes many items and reads few pays for no datetime it does not hand out (one costs
    about a quarter of an in-memory put).
    """

    __slots__ = ()


_from_epoch = datetime.fromtimestamp
_UTC = timezone.utc


class Item:
    """A stored value with its address and timestamps.

    Two items are equal when value, key, namespace and both timestamps are equal; the
    hash is the address ``(namespace, key)``. Timestamps given as ISO strings (an item
    read back from JSON) are parsed; ``created_at`` / ``updated_at`` read and assign as
    plain attributes do (see :class:`Epoch` for how stores defer building them).
    """

    __slots__ = ("_created", "_updated", "key", "namespace", "value")

    def __init__(
        self,
        *,
        value: dict[str, Any],
        key: str,
        namespace: tuple[str, ...],
        created_at: datetime,
        updated_at: datetime,
    ) -> None:
        self.value = value
        self.key = key
        self.namespace = tuple(namespace)
        self._created: Any = _as_datetime(created_at)
        self._updated: Any = _as_datetime(updated_at)

    @property
    def created_at(self) -> datetime:
        stamp = self._created
        if type(stamp) is Epoch:
            stamp = self._created = _from_epoch(stamp, _UTC)
        return stamp  # type: ignore[no-any-return]

    @created_at.setter
    def created_at(self, value: datetime) -> None:
        self._created = _as_datetime(value)

    @property
    def updated_at(self) -> datetime:
        stamp = self._updated
        if type(stamp) is Epoch:
            # Most items were never updated: share the one datetime when both are equal.
            created = self._created
            if type(created) is Epoch and created == stamp:
                self._created = _from_epoch(created, _UTC)
                stamp = self._updated = self._created
            else:
                stamp = self._updated = _from_epoch(stamp, _UTC)
        return stamp  # type: ignore[no-any-return]

    @updated_at.setter
    def updated_at(self, value: datetime) -> None:
        self._updated = _as_datetime(value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return False
        return (
            self.key == other.key
            and self.namespace == other.namespace
            and self.value == other.value
            and self.created_at == other.created_at
            and self.updated_at == other.updated_at
        )

    def __hash__(self) -> int:
        return hash((self.namespace, self.key))

    def dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the namespace as a list, timestamps in ISO format."""
        return {
            "namespace": list(self.namespace),
            "key": self.key,
            "value": self.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.dict().items())
        return f"{type(self).__name__}({fields})"


class SearchItem(Item):
    """An item found by ``search``; ``score`` is its similarity to the query (or None)."""

    __slots__ = ("score",)

    def __init__(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: dict[str, Any],
        created_at: datetime,
        updated_at: datetime,
        score: float | None = None,
    ) -> None:
        super().__init__(
            value=value, key=key, namespace=namespace, created_at=created_at, updated_at=updated_at
        )
        self.score = score

    def dict(self) -> dict[str, Any]:
        out = super().dict()
        out["score"] = self.score
        return out


class GetOp(NamedTuple):
    """Read the item at ``(namespace, key)``; ``refresh_ttl`` restarts its TTL clock."""

    namespace: tuple[str, ...]
    key: str
    refresh_ttl: bool = True


class SearchOp(NamedTuple):
    """Items under ``namespace_prefix`` matching ``filter``, ranked by ``query`` if given.

    ``filter`` maps value keys to a value (equality) or to ``{"$op": operand}`` with
    ``$eq $ne $gt $gte $lt $lte``. Without a query the order is the store's (insertion
    order in memory, newest update first in SQL stores).
    """

    namespace_prefix: tuple[str, ...]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    query: str | None = None
    refresh_ttl: bool = True


NamespacePath = tuple[str, ...]
"""A namespace pattern for :class:`MatchCondition`; the label ``"*"`` matches any label."""

NamespaceMatchType = Literal["prefix", "suffix"]


class MatchCondition(NamedTuple):
    """Namespaces whose first (``"prefix"``) or last (``"suffix"``) labels match ``path``."""

    match_type: NamespaceMatchType
    path: NamespacePath


class ListNamespacesOp(NamedTuple):
    """The distinct namespaces matching every condition, sorted, each cut to ``max_depth``."""

    match_conditions: tuple[MatchCondition, ...] | None = None
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


class PutOp(NamedTuple):
    """Store ``value`` at ``(namespace, key)``, or delete the item if ``value`` is None.

    ``index``: None embeds the store's configured fields, False embeds nothing, a list
    of paths embeds those. ``ttl``: minutes until the item expires after its last write
    (or read, with refresh on read); None never expires.
    """

    namespace: tuple[str, ...]
    key: str
    value: Mapping[str, Any] | None
    # A field named like tuple.index, as in LangGraph (users construct PutOp(index=...)).
    index: Literal[False] | list[str] | None = None  # type: ignore[assignment]
    ttl: float | None = None


Op = GetOp | SearchOp | PutOp | ListNamespacesOp
Result = Item | list[Item] | list[SearchItem] | list[tuple[str, ...]] | None


class InvalidNamespaceError(ValueError):
    """A namespace is empty, has a label that is not a non-empty string, contains ``.``
    or NUL, or starts with the reserved label ``"langgraph"``."""


class TTLConfig(TypedDict, total=False):
    """Time-to-live settings of a store.

    ``default_ttl``: minutes for items put without ``ttl=`` (None: never expire).
    ``refresh_on_read``: whether get/search restart an item's clock by default (True).
    ``sweep_interval_minutes``: how often the sweeper started with
    ``start_ttl_sweeper()`` deletes expired items.
    """

    refresh_on_read: bool
    omit_expired: bool
    default_ttl: float | None
    sweep_interval_minutes: int | None


class IndexConfig(TypedDict, total=False):
    """Semantic search settings: ``embed`` (a langchain ``Embeddings``, a sync or async
    function from a list of texts to vectors), ``dims`` (vector length) and ``fields``
    (paths into the value to embed, ``["$"]`` (the whole value) by default)."""

    dims: int
    embed: Any  # Embeddings | EmbeddingsFunc | AEmbeddingsFunc | str
    fields: list[str] | None


# -- validation ----------------------------------------------------------------------------


def validate_labels(namespace: tuple[str, ...]) -> None:
    """Raise :class:`InvalidNamespaceError` for a bad label (empty tuples are allowed)."""
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels must be strings, "
                f"not {type(label).__name__}"
            )
        if not label:
            raise InvalidNamespaceError(f"Namespace labels cannot be empty strings: {namespace}")
        if "." in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels cannot contain "
                "periods ('.')"
            )
        if "\x00" in label:
            raise InvalidNamespaceError(
                f"Invalid namespace label {label!r} in {namespace}: labels cannot contain "
                "NUL bytes"
            )


def validate_namespace(namespace: tuple[str, ...]) -> None:
    """Validate the namespace of a put: non-empty, good labels, not rooted at "langgraph"."""
    if not isinstance(namespace, tuple):
        raise InvalidNamespaceError(
            f"A namespace must be a tuple of strings, not {type(namespace).__name__}: "
            f"{namespace!r}"
        )
    if not namespace:
        raise InvalidNamespaceError("Namespace cannot be empty.")
    validate_labels(namespace)
    if namespace[0] == "langgraph":
        raise InvalidNamespaceError(
            f'Root label for namespace cannot be "langgraph". Got: {namespace}'
        )


def validate_op_namespace(op: Op) -> None:
    """Check the labels an op carries (ops given straight to ``batch`` skip the methods'
    checks, and a label like ``"a.b"`` must never address the namespace ``("a", "b")``)."""
    if isinstance(op, (GetOp, PutOp)):
        validate_labels(op.namespace)
    elif isinstance(op, SearchOp):
        validate_labels(op.namespace_prefix)
    elif isinstance(op, ListNamespacesOp):
        for condition in op.match_conditions or ():
            validate_labels(condition.path)


def validate_value(namespace: tuple[str, ...], key: str, value: Any) -> None:
    """A stored value must be a mapping (None deletes)."""
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(
            f"Store values must be dicts: put({namespace!r}, {key!r}, ...) got "
            f"{type(value).__name__} {value!r:.80}"
        )


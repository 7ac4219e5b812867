"""Embedding helpers: wrap what ``index={"embed": ...}`` accepts, and pick text out of values.

Paths name the parts of a value to embed: ``"a.b"`` (nested keys), ``"a[0]"`` /
``"a[-1]"`` (one element), ``"a[*]"`` (every element), ``"a.*"`` (every value of a dict),
``"{a,b.c}"`` (several paths) and ``"$"`` or ``""`` (the whole value, as sorted JSON).
Strings are embedded as they are, other scalars as ``str()``, lists and dicts as JSON;
missing paths and ``None`` give nothing.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from asyncgraph._async import in_thread

__all__ = [
    "AEmbeddingsFunc",
    "EmbeddingsFunc",
    "EmbeddingsLambda",
    "ensure_embeddings",
    "get_text_at_path",
    "tokenize_path",
]

EmbeddingsFunc = Callable[[Sequence[str]], list[list[float]]]
AEmbeddingsFunc = Callable[[Sequence[str]], Awaitable[list[list[float]]]]


def _is_async(fn: Any) -> bool:
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - a callable object's own method
    )


class EmbeddingsLambda(Embeddings):
    """An ``Embeddings`` made of a function (sync, async, or one of each).

    A sync-only function serves async calls in a worker thread; an async-only function
    cannot serve sync calls (``put`` / ``search`` on the sync API) and says so.
    """

    def __init__(self, func: EmbeddingsFunc | AEmbeddingsFunc, afunc: AEmbeddingsFunc | None = None) -> None:
        if afunc is None and _is_async(func):
            self.func: EmbeddingsFunc | None = None
            self.afunc: AEmbeddingsFunc | None = func  # type: ignore[assignment]
        else:
            self.func = func  # type: ignore[assignment]
            self.afunc = afunc

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.func is None:
            raise ValueError(
                "The store's embed function is async: use the async store methods "
                "(aput / asearch), or give a sync function too"
            )
        return self.func(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.afunc is None:
            return await in_thread(self.embed_documents, texts)
        return await self.afunc(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]


def ensure_embeddings(embed: Any, *, aembed: AEmbeddingsFunc | None = None) -> Embeddings:
    """An ``Embeddings`` from an ``Embeddings``, a sync or async function, or a
    ``"provider:model"`` string (which needs the ``langchain`` package)."""
    if embed is None and aembed is None:
        raise ValueError("index config needs 'embed': an Embeddings object or a function")
    if isinstance(embed, Embeddings):
        return embed
    if isinstance(embed, str):
        try:
            from langchain.embeddings import init_embeddings  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError(
                f"index 'embed' is the string {embed!r}: resolving a provider string needs "
                "the 'langchain' package (pip install langchain); or pass an Embeddings "
                "object or a function"
            ) from None
        return init_embeddings(embed)  # type: ignore[no-any-return]
    if embed is None:
        return EmbeddingsLambda(aembed)  # type: ignore[arg-type]
    if callable(embed):
        return EmbeddingsLambda(embed, aembed)
    raise ValueError(
        f"index 'embed' must be an Embeddings object, a function or a provider string, "
        f"not {type(embed).__name__}"
    )


# -- paths ---------------------------------------------------------------------------------


def tokenize_path(path: str) -> list[str]:
    """Split a path into tokens: keys, ``[...]`` index tokens and ``{...}`` groups.

    ``"a.b[0].{c,d}"`` -> ``["a", "b", "[0]", "{c,d}"]``; ``""`` -> ``[]``.
    """
    tokens: list[str] = []
    current: list[str] = []
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch in "[{":
            if current:
                tokens.append("".join(current))
                current = []
            close = "]" if ch == "[" else "}"
            depth, j = 0, i
            while j < n:
                if path[j] == ch:
                    depth += 1
                elif path[j] == close:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            tokens.append(path[i : j + 1])  # an unclosed bracket keeps the rest as is
            i = j + 1
        elif ch == ".":
            if current:
                tokens.append("".join(current))
                current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    if current:
        tokens.append("".join(current))
    return tokens


def _text(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (dict, list)):
        return [json.dumps(value, sort_keys=True, ensure_ascii=False)]
    return [str(value)]


def _walk(obj: Any, tokens: list[str], pos: int) -> list[str]:
    if pos == len(tokens):
        return _text(obj)
    token = tokens[pos]
    if token.startswith("[") and token.endswith("]"):
        if not isinstance(obj, list):
            return []
        inner = token[1:-1]
        if inner == "*":
            return [text for element in obj for text in _walk(element, tokens, pos + 1)]
        try:
            index = int(inner)
        except ValueError:
            return []
        if -len(obj) <= index < len(obj):
            return _walk(obj[index], tokens, pos + 1)
        return []
    if token.startswith("{") and token.endswith("}"):
        if not isinstance(obj, dict):
            return []
        # A group ends the path: tokens after it are ignored (as LangGraph does).
        out: list[str] = []
        for part in token[1:-1].split(","):
            out.extend(_walk(obj, tokenize_path(part.strip()), 0))
        return out
    if token == "*":
        if isinstance(obj, dict):
            return [text for v in obj.values() for text in _walk(v, tokens, pos + 1)]
        if isinstance(obj, list):
            return [text for v in obj for text in _walk(v, tokens, pos + 1)]
        return []
    if isinstance(obj, dict) and token in obj:
        return _walk(obj[token], tokens, pos + 1)
    return []


def get_text_at_path(obj: Any, path: str | list[str]) -> list[str]:
    """The texts at ``path`` in ``obj`` (a path string or the tokens of one)."""
    if obj is None:
        return []
    if isinstance(path, str):
        if path in ("", "$"):
            return [json.dumps(obj, sort_keys=True, ensure_ascii=False)]
        tokens = tokenize_path(path)
    else:
        tokens = path
        if not tokens or tokens == ["$"]:
            return [json.dumps(obj, sort_keys=True, ensure_ascii=False)]
    return _walk(obj, tokens, 0)

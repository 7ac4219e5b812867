"""Typing helpers under LangGraph's private path ``langgraph._internal._typing``."""

from __future__ import annotations

from dataclasses import Field
from typing import Any, ClassVar, Protocol, TypeAlias

from pydantic import BaseModel
from typing_extensions import TypedDict

from asyncgraph.channels.base import MISSING

__all__ = [
    "EMPTY_SEQ",
    "MISSING",
    "DataclassLike",
    "DeprecatedKwargs",
    "StateLike",
    "TypedDictLikeV1",
    "TypedDictLikeV2",
]


class TypedDictLikeV1(Protocol):
    """What a ``TypedDict`` class looks like to a type checker (older spelling)."""

    __required_keys__: ClassVar[frozenset[str]]
    __optional_keys__: ClassVar[frozenset[str]]


class TypedDictLikeV2(Protocol):
    """What a ``TypedDict`` class looks like to a type checker."""

    __required_keys__: ClassVar[frozenset[str]]


class DataclassLike(Protocol):
    """What a dataclass looks like to a type checker."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


StateLike: TypeAlias = TypedDictLikeV1 | TypedDictLikeV2 | DataclassLike | BaseModel
"""A state schema: a ``TypedDict``, a dataclass or a Pydantic model."""


class DeprecatedKwargs(TypedDict):
    """Annotates ``**kwargs`` that only carry deprecated keyword arguments, so that
    a type checker flags any use of them (it has no keys)."""


EMPTY_SEQ: tuple[str, ...] = ()

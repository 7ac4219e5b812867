"""Channels: how each piece of state combines the writes of a step."""

from asyncgraph.channels.base import BaseChannel
from asyncgraph.channels.binop import BinaryOperatorAggregate
from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.last_value import AnyValue, LastValue, LastValueAfterFinish, UntrackedValue
from asyncgraph.channels.named_barrier_value import NamedBarrierValue, NamedBarrierValueAfterFinish
from asyncgraph.channels.topic import Topic

__all__ = [
    "AnyValue",
    "BaseChannel",
    "BinaryOperatorAggregate",
    "EphemeralValue",
    "LastValue",
    "LastValueAfterFinish",
    "NamedBarrierValue",
    "NamedBarrierValueAfterFinish",
    "Topic",
    "UntrackedValue",
]

"""Channels: how each piece of state combines the writes of a step."""

from asyncgraph.channels.any_value import AnyValue
from asyncgraph.channels.base import BaseChannel
from asyncgraph.channels.binop import BinaryOperatorAggregate
from asyncgraph.channels.ephemeral_value import EphemeralValue
from asyncgraph.channels.last_value import LastValue, LastValueAfterFinish
from asyncgraph.channels.named_barrier_value import NamedBarrierValue, NamedBarrierValueAfterFinish
from asyncgraph.channels.topic import Topic
from asyncgraph.channels.untracked_value import UntrackedValue

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

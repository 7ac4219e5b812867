"""Names that libraries built on LangGraph import, and the generic subscripts they write
at import time (LangChain 1.5, langgraph-supervisor)."""

from typing import Any, get_args

from typing_extensions import TypeVar


def test_generic_classes_subscript_as_in_langgraph() -> None:
    from asyncgraph.channels.base import BaseChannel
    from asyncgraph.checkpoint.base import BaseCheckpointSaver
    from asyncgraph.graph.state import CompiledStateGraph
    from asyncgraph.pregel import Pregel

    assert get_args(CompiledStateGraph[Any, None, Any, Any]) == (Any, type(None), Any, Any)
    Pregel[Any]  # one argument: the others have defaults, as in LangGraph
    BaseCheckpointSaver[str]
    BaseChannel[int, int, int]
    BaseChannel[int, int]


def test_typing_module_has_langgraphs_type_variables_and_defaults() -> None:
    import asyncgraph.typing as t

    for name in ("StateT", "StateT_co", "StateT_contra", "ContextT", "InputT", "OutputT", "NodeInputT"):
        assert isinstance(getattr(t, name), TypeVar), name
    assert t.ContextT.__default__ is None
    assert t.InputT.__default__ is t.StateT


def test_types_trace_policy_omit_payload_and_checkpointer() -> None:
    from asyncgraph.checkpoint.base import BaseCheckpointSaver
    from asyncgraph.types import Checkpointer, TracePolicy, omit_payload

    policy = TracePolicy(process_inputs=omit_payload)
    assert policy.process_inputs is not None and policy.process_inputs({"big": 1}) == {}
    assert policy.process_outputs is None
    assert set(get_args(Checkpointer)) == {type(None), bool, BaseCheckpointSaver}


def test_internal_typing_deprecated_kwargs_is_an_empty_typed_dict() -> None:
    from asyncgraph._internal._typing import DeprecatedKwargs

    assert DeprecatedKwargs.__required_keys__ == frozenset()
    assert DeprecatedKwargs.__optional_keys__ == frozenset()

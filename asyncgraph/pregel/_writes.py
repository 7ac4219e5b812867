"""Node output -> writes: what a task's return value, ``Command``, conditional-edge
result or the run's input writes to which channels. Pure: values in, writes appended to
the task; no asyncio, no I/O (unit-tested without an event loop).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from asyncgraph.channels.base import MISSING, BaseChannel
from asyncgraph.channels.binop import BinaryOperatorAggregate
from asyncgraph.constants import END, ROOT, START, TASKS
from asyncgraph.errors import (
    ErrorCode,
    InvalidInputError,
    InvalidUpdateError,
    ParentCommand,
    PathMapKeyError,
    PathMapTypeError,
    TaskNotFound,
    UndeclaredKeyWarning,
)
from asyncgraph.pregel._algo import RunState, Task
from asyncgraph.pregel._plan import BranchPlan, Plan, branch_channel
from asyncgraph.pregel._schema import ROOT_KEY, check_pydantic_writes, object_to_updates
from asyncgraph.types import Command, Send


def _check_dest(plan: Plan, dest: Any, source: str) -> str | None:
    """``dest`` as a node to go to, ``END``, or ``None`` for a node the graph does not
    have: LangGraph ignores those (logging it), so they are ignored with a
    ``UserWarning``; ``compile(strict=True)`` raises :class:`TaskNotFound`."""
    if dest == END:
        return END
    if not isinstance(dest, str) or dest not in plan.nodes or dest == START:
        error = TaskNotFound(str(dest), source=source, known=[n for n in plan.nodes if n != START])
        if plan.strict:
            raise error
        warnings.warn(f"{error}. Ignored, as LangGraph does; compile(strict=True) makes this an error",
                      stacklevel=2)
        return None
    return dest


def _goto_writes(plan: Plan, goto: Any, source: str, writes: list[tuple[str, Any]]) -> None:
    items = goto if isinstance(goto, (list, tuple)) else (goto,)
    for item in items:
        if isinstance(item, Send):
            if _check_dest(plan, item.node, source) is not None:
                writes.append((TASKS, item))
        else:
            dest = _check_dest(plan, item, source)
            if dest is not None and dest != END:
                writes.append(plan.goes.get(dest) or (branch_channel(dest), None))


def output_writes(plan: Plan, task: Task, result: Any) -> dict[str, Any] | None:
    """Append the writes for a node's return value to ``task.writes``.

    Returns the state update to stream (``{key: value}``), or None if there is none.

    Raises:
        InvalidUpdateError: not a dict / Command / state object, or an unknown key.
        TaskNotFound: a ``Command.goto`` names a node that does not exist.
    """
    write = task.node.write
    if write is not None:  # a low-level graph's node: its writers decide
        return write(task, result)
    if result is None:
        return None
    writes = task.writes
    if plan.state_info.kind == "root":
        return _root_writes(plan, task, result)
    if type(result) is dict:
        pairs: Any = result.items()
    elif isinstance(result, Command):
        return command_writes(plan, task, result)
    elif isinstance(result, (list, tuple)) and result and any(isinstance(c, Command) for c in result):
        # Commands mixed with plain updates (a ToolNode's output when some tools
        # returned a Command): each plain item is an update of its own, as in LangGraph,
        # whose ``updates`` chunk then lists them.
        parts = []
        for cmd in result:
            part = command_writes(plan, task, cmd if isinstance(cmd, Command) else Command(update=cmd))
            if isinstance(part, list):
                parts.extend(part)
            elif part:
                parts.append(part)
        if len(parts) > 1:
            return parts  # type: ignore[return-value]
        return parts[0] if parts else None
    elif isinstance(result, dict):
        pairs = result.items()
    else:
        obj_pairs = object_to_updates(result, None)
        if obj_pairs is None:
            raise InvalidUpdateError(
                f"Expected dict, got {result!r} (returned by node '{task.name}')",
                nodes=(task.name,),
                value=result,
                error_code=ErrorCode.INVALID_GRAPH_NODE_RETURN_VALUE,
            )
        pairs = obj_pairs
    keys = plan.state_keys
    update = {}
    for k, v in pairs:
        if k not in keys:
            _undeclared(plan, task.name, k, v, "returned")
            continue
        writes.append((k, v))
        update[k] = v
    if plan.state_info.kind == "pydantic" and update:
        check_pydantic_writes(plan.state_info, task.name, update.items())
    return update or None  # a node that wrote nothing streams None, as in LangGraph


def _root_writes(plan: Plan, task: Task, result: Any) -> dict[str, Any] | None:
    """A root state's writes (``StateGraph(Annotated[list, add])``): the return value is
    the update of its one channel; a ``Command``, or a list holding Commands, makes
    one update per item. The ``updates`` chunk shows the value (a list of them when
    there are several)."""
    if isinstance(result, Command):
        parts: list[Any] = [result]
    elif isinstance(result, (list, tuple)) and any(isinstance(c, Command) for c in result):
        parts = list(result)
    else:
        task.writes.append((ROOT_KEY, result))
        return {ROOT_KEY: result}
    shown = []
    for item in parts:
        if isinstance(item, Command):
            update = command_writes(plan, task, item)
            for part in update if isinstance(update, list) else [update] if update else []:
                if ROOT_KEY in part:
                    shown.append(part[ROOT_KEY])
        elif item is not None:
            task.writes.append((ROOT_KEY, item))
            shown.append(item)
    if not shown:
        return None
    return {ROOT_KEY: shown[0] if len(shown) == 1 else shown}


def _undeclared(plan: Plan, node: str, key: str, value: Any, what: str) -> None:
    """A node wrote ``key``, which the state does not declare: an error under
    ``compile(strict=True)``, else a warning (the write is dropped, as in LangGraph)."""
    message = f"Node '{node}' {what} unknown state key '{key}'; the state's keys are: {', '.join(sorted(plan.state_keys))}"
    if plan.strict:
        raise InvalidUpdateError(message, key=key, nodes=(node,), value=value)
    warnings.warn(f"{message} (dropped; compile(strict=True) makes this an error)", UndeclaredKeyWarning, stacklevel=2)


def command_writes(plan: Plan, task: Task, cmd: Command[Any]) -> dict[str, Any] | None:
    """Append a ``Command``'s writes (its update, then its ``goto``) to ``task.writes``;
    return the update its ``updates`` chunk shows (a list of one-key dicts when the
    update writes a key more than once)."""
    if cmd.graph == Command.PARENT:
        raise ParentCommand(cmd)
    update: dict[str, Any] | None = None
    repeated: list[tuple[str, Any]] | None = None
    if cmd.update is not None:
        keys = plan.state_keys
        update = {}
        items = cmd._update_as_tuples()
        if len({k for k, _ in items}) < len(items):
            repeated = [(k, v) for k, v in items if k in keys]
        for k, v in items:
            if k == ROOT and ROOT not in keys:
                pairs = object_to_updates(v, None)
                if pairs is None:
                    raise InvalidUpdateError(
                        f"Command.update from node '{task.name}' must be a dict, got {v!r}",
                        nodes=(task.name,),
                        value=v,
                    )
                for k2, v2 in pairs:
                    task.writes.append((k2, v2))
                    update[k2] = v2
                continue
            if k not in keys:
                _undeclared(plan, task.name, k, v, "returned Command(update=...) with")
                continue
            task.writes.append((k, v))
            update[k] = v
    if update and plan.state_info.kind == "pydantic":
        check_pydantic_writes(plan.state_info, task.name, update.items())
    if cmd.goto:
        _goto_writes(plan, cmd.goto, task.name, task.writes)
    if update is not None and repeated:
        # A key written twice (update=[("k", 1), ("k", 2)]): one update per write, as
        # LangGraph streams them.
        return [{k: v} for k, v in repeated]  # type: ignore[return-value]
    return update


def input_writes(plan: Plan, task: Task) -> dict[str, Any]:
    """Writes of the START task: the run's input mapped onto state keys."""
    inp = task.input
    info = plan.input_info
    if info.kind == "root":  # a root state: the input is its value
        task.writes.append((ROOT_KEY, inp))
        return {ROOT_KEY: inp}
    if isinstance(inp, dict):
        known = plan.input_keys
        unknown = [k for k in inp if k not in known]
        if unknown:
            message = (
                f"Input has key(s) {', '.join(map(repr, unknown))} that the graph's input "
                f"schema does not declare; expected keys: {', '.join(sorted(known))}"
            )
            if plan.strict:
                raise InvalidInputError(message)
            warnings.warn(f"{message} (dropped; compile(strict=True) makes this an error)", UndeclaredKeyWarning, stacklevel=2)
            inp = {k: v for k, v in inp.items() if k in known}
        if info.kind == "pydantic":
            # Validate through the model (only the keys given are written).
            try:
                obj = info.coerce(_with_reducer_starts(plan, inp), "the graph input")
            except InvalidUpdateError as exc:
                # A reducer key's input is an update, not a value: ``("user", "hi")``
                # for an ``add_messages`` list. Validate what the reducer makes of it.
                folded = _reduced_input(plan, inp)
                try:
                    obj = info.coerce(folded, "the graph input") if folded is not None else None
                except InvalidUpdateError:
                    obj = None
                if obj is None:
                    cause = exc.__cause__
                    if cause is not None and type(cause).__name__ == "ValidationError":
                        # Pydantic's own error, as LangGraph raises it (code catches
                        # ``pydantic.ValidationError``), with a note saying where.
                        cause.add_note(f"(the graph input, validated as {info.schema.__name__})")
                        raise cause from None
                    raise InvalidInputError(str(exc)) from cause
            # The input is checked, but written as given, as LangGraph does: nodes get it
            # validated when their input is built, so a validator runs once per read,
            # never on a value it already transformed.
            pairs = list(inp.items())
        else:
            pairs = list(inp.items())
    else:
        pairs = object_to_updates(inp, info)  # type: ignore[assignment]
        if pairs is None:
            raise InvalidInputError(
                f"Graph input must be a dict (or a {getattr(info.schema, '__name__', 'state')} "
                f"instance), got {type(inp).__name__}: {inp!r}"
            )
    for k, v in pairs:
        if k in plan.state_keys:
            task.writes.append((k, v))
    return dict(pairs)


def _with_reducer_starts(plan: Plan, inp: dict[str, Any]) -> dict[str, Any]:
    """``inp`` plus, for each reducer key it leaves out, that channel's starting value: a
    required ``Annotated[list, add]`` field need not be in the input (its channel starts
    as ``[]``), as in LangGraph. Only the keys of ``inp`` are written."""
    out = dict(inp)
    for k in plan.input_keys:
        if k in out:
            continue
        spec = plan.channels.get(k)
        if isinstance(spec, BinaryOperatorAggregate):
            ch: BaseChannel[Any, Any] = spec.new_run() or spec.copy()
            if ch.is_available():
                out[k] = ch.get()
    return out


def _reduced_input(plan: Plan, inp: dict[str, Any]) -> dict[str, Any] | None:
    """``inp`` with each reducer key's value folded into that channel's starting value
    (what the state will hold), or None when no key has a reducer."""
    out = dict(inp)
    folded = False
    for k, v in inp.items():
        spec = plan.channels.get(k)
        if isinstance(spec, BinaryOperatorAggregate):
            ch: BaseChannel[Any, Any] = spec.new_run() or spec.copy()
            ch.update([v])
            out[k] = ch.get()
            folded = True
    return out if folded else None


def fresh_values(plan: Plan, run: RunState, task: Task, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """The state after applying only this task's writes, for its conditional edges:
    the state schema's keys, or ``keys`` (with the managed values among them).

    The updated channel copies are kept on the task (``task.fresh``): the barrier
    reuses them when the task is alone in its step.
    """
    fields = plan.state_info.fields
    if keys is None:
        keys = plan.state_info.keys or tuple(plan.state_keys)
    else:
        fields = dict.fromkeys(keys)  # type: ignore[assignment]
    channels = run.channels
    fresh = task.fresh
    if fresh is None:
        written: dict[str, list[Any]] = {}
        for k, v in task.writes:
            if k in plan.state_keys:
                written.setdefault(k, []).append(v)
        fresh = {}
        for k, vals in written.items():
            ch = channels.get(k)
            ch = ch.copy() if ch is not None else plan.channels[k].from_checkpoint(MISSING)
            fresh[k] = (ch, ch.update(vals))
        task.fresh = fresh
    out: dict[str, Any] = {}
    for k in keys:
        done = fresh.get(k)
        chan = done[0] if done is not None else channels.get(k)
        if chan is not None and chan.is_available():
            out[k] = chan.value
    for k, m in plan.managed.items():
        if k in fields:
            out[k] = m.compute(run.step, 0)
    return out


def branch_writes(plan: Plan, task: Task, branch: BranchPlan, result: Any) -> None:
    """Turn a path function's result (names, END, Sends) into the task's writes."""
    items = result if isinstance(result, (list, tuple)) else (result,)
    for item in items:
        if isinstance(item, Send):
            if _check_dest(plan, item.node, task.name) is not None:
                task.writes.append((TASKS, item))
            continue
        dest = item
        if branch.path_map is not None:
            try:
                dest = branch.path_map[item]
            except (KeyError, TypeError) as exc:
                message = (
                    f"Conditional edge '{branch.name}' out of node '{task.name}' returned "
                    f"{item!r}, which is not in its path map (expected one of: "
                    f"{', '.join(map(repr, branch.path_map))})"
                )
                if isinstance(exc, KeyError):  # a KeyError as on LangGraph
                    raise PathMapKeyError(item, message, nodes=(task.name,)) from None
                # unhashable: a TypeError as on LangGraph
                raise PathMapTypeError(str(exc), message, value=item, nodes=(task.name,)) from None
        if dest is None:
            dest = END
        elif type(dest) is str:
            write = plan.goes.get(dest)
            if write is not None:  # a node of the graph (the usual case)
                task.writes.append(write)
                continue
        dest = _check_dest(plan, dest, task.name)
        if dest is not None and dest != END:
            task.writes.append((branch_channel(dest), None))

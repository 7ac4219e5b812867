"""Crash tests: a run killed with SIGKILL resumes in a new process, losing and repeating nothing.

The graph (``_crash_child.py``) is ``prepare`` -> a fan-out step (nodes ``a``, ``b`` (sync),
``slow`` and two ``Send("worker", ...)`` tasks) -> ``join`` -> ``finish``, over a list
reducer, so a lost or doubled write changes the final state. Every node execution is
appended (and fsynced) to a side-effect log, so executions are counted across processes.

A child process runs the graph on a real database and is killed with SIGKILL:

* in the middle of the fan-out superstep, once ``slow`` is running and every sibling has
  finished and its writes have reached the database;
* between two steps, once the checkpoint after the fan-out step is saved and the run is
  waiting for its (stalled) stream reader.

A second process resumes the thread with ``ainvoke(None, config)``. It must finish with
the state of an uninterrupted run, run each finished node exactly once overall, and run
the killed node exactly once more.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHILD = Path(__file__).with_name("_crash_child.py")
DEADLINE = 20.0  # seconds for a child to reach the point where it is killed


def _load_child() -> ModuleType:
    # Imported from its file: the tests are not a package (--import-mode=importlib).
    name = "_asyncgraph_crash_child"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CHILD)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # the State TypedDict resolves its annotations through it
    spec.loader.exec_module(mod)
    return mod


child = _load_child()

# sqlite: AsyncSqliteSaver + ainvoke; sqlite_sync: SqliteSaver + invoke;
# postgres: AsyncPostgresSaver + ainvoke (all opened with from_conn_string)
BACKENDS = [
    "sqlite",
    "sqlite_sync",
    pytest.param("postgres", marks=pytest.mark.postgres),
]
DURABILITY = [
    pytest.param(None, id="default"),
    pytest.param("sync", id="sync"),
]
# The nodes of the fan-out step that finish before ``slow`` is killed.
SIBLINGS = ("a", "b", "worker0", "worker1")


class Case:
    """One crash scenario: where the data lives and how to run a child on it."""

    def __init__(self, backend: str, target: str, tmp: Path) -> None:
        self.backend = backend
        self.target = target
        self.thread_id = f"crash-{uuid.uuid4().hex[:10]}"
        self.side_effects = tmp / "side_effects.log"
        self.signal = tmp / "signal"
        self.stderr = tmp / "child_stderr.txt"

    def argv(self, mode: str, durability: str | None) -> list[str]:
        args = [
            sys.executable,
            str(CHILD),
            self.backend,
            self.target,
            self.thread_id,
            mode,
            str(self.side_effects),
            str(self.signal),
        ]
        return [*args, durability] if durability else args

    def executions(self) -> Counter[str]:
        if not self.side_effects.exists():
            return Counter()
        return Counter(self.side_effects.read_text().split())

    @contextmanager
    def saver(self) -> Iterator[Any]:
        """A sync saver on the same storage, as a second process would open it."""
        if self.backend == "postgres":
            from asyncgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(self.target) as saver:
                yield saver
        else:
            from asyncgraph.checkpoint.sqlite import SqliteSaver

            with SqliteSaver.from_conn_string(self.target) as saver:
                yield saver

    def saved_logs(self) -> tuple[list[str], dict[str, list[int]]]:
        """The latest checkpoint's ``log``, and for each ``log`` entry saved as a pending
        write, the steps of the checkpoints it is pending on."""
        with self.saver() as saver:
            tuples = list(saver.list(child.config(self.thread_id)))
        if not tuples:
            return [], {}
        latest = tuples[0].checkpoint["channel_values"].get("log") or []
        pending: dict[str, list[int]] = {}
        for t in tuples:
            for _, channel, value in t.pending_writes or ():
                if channel == "log":
                    pending.setdefault(value[0], []).append(t.metadata["step"])
        return latest, pending

    def kill_when(
        self, mode: str, durability: str | None, ready: Callable[[], bool]
    ) -> None:
        """Start a child in ``mode``, wait until ``ready()``, then SIGKILL it."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.stderr.open("wb") as err:
            proc = subprocess.Popen(
                self.argv(mode, durability),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        try:
            deadline = time.monotonic() + DEADLINE
            while not (self.signal.exists() and ready()):
                if proc.poll() is not None:
                    pytest.fail(
                        f"the child exited ({proc.returncode}) before the kill:\n"
                        f"{self.stderr.read_text()}"
                    )
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the child did not reach the kill point in {DEADLINE}s; "
                        f"executions {dict(self.executions())}, saved {self.saved_logs()}"
                    )
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL

    def resume(self, durability: str | None) -> Any:
        out = subprocess.run(
            self.argv("resume", durability),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr.decode()
        return json.loads(out.stdout)


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], int]:
    """Final state and final step of an uninterrupted run (in-memory saver, in-process)."""
    from asyncgraph.checkpoint.memory import InMemorySaver

    graph = child.builder().compile(checkpointer=InMemorySaver())
    cfg = child.config("reference")
    result = graph.invoke(child.INPUT, cfg)
    snap = graph.get_state(cfg)
    assert snap.values == result and snap.next == ()
    return result, snap.metadata["step"]


@pytest.fixture(params=BACKENDS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    backend = request.param
    if backend == "postgres":
        return Case(backend, request.getfixturevalue("pg_dsn"), tmp_path)
    return Case(backend, str(tmp_path / "checkpoints.db"), tmp_path)


def saver_list(case: Case) -> list[Any]:
    with case.saver() as saver:
        return list(saver.list(child.config(case.thread_id)))


def _assert_resumed_like_reference(
    case: Case, resumed: Any, reference: tuple[dict[str, Any], int]
) -> None:
    ref_state, ref_step = reference
    assert resumed == ref_state
    with case.saver() as saver:
        graph = child.builder().compile(checkpointer=saver)
        snap = graph.get_state(child.config(case.thread_id))
    assert snap.values == ref_state
    assert snap.next == ()
    assert snap.metadata["step"] == ref_step


@pytest.mark.parametrize("durability", DURABILITY)
def test_kill_mid_superstep_resumes_without_rerunning_finished_nodes(
    case: Case, durability: str | None, reference: tuple[dict[str, Any], int]
) -> None:
    def siblings_saved() -> bool:
        # Pending on any checkpoint of the thread, not just the latest: a write saved
        # against the wrong checkpoint still lets the kill happen, and the assertion
        # below then says where it went.
        done = case.executions()
        if not all(done[n] for n in SIBLINGS):
            return False
        _, pending = case.saved_logs()
        return set(SIBLINGS) <= pending.keys()

    case.kill_when("mid", durability, siblings_saved)
    killed = case.executions()
    assert killed == Counter({"prepare": 1, **dict.fromkeys(SIBLINGS, 1), "slow": 1})
    # What a user sees after the crash, before resuming.
    with case.saver() as saver:
        crashed = (
            child.builder()
            .compile(checkpointer=saver)
            .get_state(child.config(case.thread_id))
        )
    crashed_steps = [t.metadata["step"] for t in saver_list(case)]
    _, crashed_pending = case.saved_logs()

    resumed = case.resume(durability)

    runs = case.executions()
    assert runs - killed == Counter({"slow": 1, "join": 1, "finish": 1}), (
        f"executions before the kill {dict(killed)}, after the resume {dict(runs)}. At the "
        f"kill the thread's checkpoints were at steps {crashed_steps} (latest first), and "
        f"each node's write was pending on the checkpoint of step {crashed_pending}"
    )
    _assert_resumed_like_reference(case, resumed, reference)
    # The crashed thread showed the finished siblings' writes and only ``slow`` to run.
    assert crashed.next == ("slow",)
    assert sorted(crashed.values["log"]) == sorted(
        ["input", "prepare", "a", "b", "worker0", "worker1"]
    )
    assert sorted(t.name for t in crashed.tasks if t.result is not None) == [
        "a",
        "b",
        "worker",
        "worker",
    ]


def test_kill_between_steps_resumes_from_the_saved_checkpoint(
    case: Case, reference: tuple[dict[str, Any], int]
) -> None:
    def fan_out_checkpointed() -> bool:
        latest, _ = case.saved_logs()
        return "slow" in latest

    case.kill_when("between", None, fan_out_checkpointed)
    killed = case.executions()
    assert killed == Counter({"prepare": 1, **dict.fromkeys(SIBLINGS, 1), "slow": 1})

    resumed = case.resume(None)

    runs = case.executions()
    assert runs - killed == Counter({"join": 1, "finish": 1}), (
        f"executions before the kill {dict(killed)}, after the resume {dict(runs)}"
    )
    _assert_resumed_like_reference(case, resumed, reference)

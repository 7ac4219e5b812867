"""A workflow killed with SIGKILL while a task runs resumes in a new process without
running again the task that had finished (its result was saved when it finished)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("_crash_child.py")
DEADLINE = 30.0


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, check=False)


@pytest.mark.allow_blocking
@pytest.mark.parametrize("api", ["async", "sync"])
def test_killed_between_tasks_resumes_without_rerunning_finished_task(api: str, tmp_path: Path) -> None:
    db, effects, sig = tmp_path / "ckpt.db", tmp_path / "effects.log", tmp_path / "signal"
    base = [sys.executable, str(CHILD), api, str(db), "crash-1"]
    with (tmp_path / "stderr").open("wb") as err:
        proc = subprocess.Popen([*base, "kill", str(effects), str(sig)], stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + DEADLINE
        while not sig.exists():
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            assert time.monotonic() < deadline, "the child never reached the slow task"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert Counter(effects.read_text().split()) == {"fetch": 1, "slow": 1}

    out = _run([*base, "resume", str(effects), str(sig)])
    assert out.returncode == 0, out.stderr.decode()
    assert json.loads(out.stdout) == [2, 20, 25]
    # fetch finished before the kill: its saved result is reused, never run again.
    assert Counter(effects.read_text().split()) == {"fetch": 1, "slow": 2, "finish": 1}

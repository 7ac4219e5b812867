"""``examples/async_agent.py`` runs offline and shows a concurrency speedup."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "async_agent.py"


def test_example_runs_offline_with_the_scripted_model() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--model", "scripted", "--n", "20", "--latency", "0.03"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "model: scripted" in out
    # The streamed conversation: a tool call, its result, then the answer.
    assert "[agent] calls search({'query': 'what is the weather in sf'})" in out
    assert "[action] tool search -> It's 60 degrees and foggy." in out
    assert "[agent] answer: According to my search: It's 60 degrees and foggy. Anything else?" in out
    assert "tokens: According to my search" in out
    # Both batches completed, with a progress bar, and concurrency paid off.
    assert out.count("20/20") == 2
    # Piped, the progress bar is drawn once per batch, not once per finished run.
    assert "1/20" not in out
    speedup = float(re.search(r"speedup: ([\d.]+)x", out).group(1))  # type: ignore[union-attr]
    assert speedup > 3, out

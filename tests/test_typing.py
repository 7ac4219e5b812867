"""The package ships ``py.typed``, so its annotations are a promise: mypy over
``asyncgraph/`` must find nothing. (mypy is pinned in the dev extra.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_errors_in_the_package() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "asyncgraph"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

"""``python bench/_profile_cpu.py OUT.prof MODULE ARGS...``: run ``python -m MODULE ARGS`` under
cProfile timed by CPU (``time.process_time``, so waiting for a core on a loaded machine does
not count), written to OUT.prof at exit (server_bench.py's ``BENCH_PROFILE_DIR``)."""

import atexit
import cProfile
import runpy
import signal
import sys
import time

out, module = sys.argv[1], sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
profile = cProfile.Profile(time.process_time)


@atexit.register
def _dump() -> None:
    profile.disable()
    profile.dump_stats(out)


# uvicorn raises SIGTERM again after its graceful shutdown: exit normally so atexit runs.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
profile.enable()
runpy.run_module(module, run_name="__main__", alter_sys=True)

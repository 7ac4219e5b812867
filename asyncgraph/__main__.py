"""``python -m asyncgraph run app.py [args]`` / ``python -m asyncgraph run -m pkg.mod [args]``.

Also ``asyncgraph dev [--config langgraph.json] [--host H] [--port 2024]``: the dev server
(:mod:`asyncgraph.server`, needs the ``server`` extra).

Runs a script or module with ``install_as_langgraph()`` active, so an application (and
every library it uses) that imports ``langgraph`` runs on asyncgraph without a code
change. The script sees ``sys.argv`` as if it had been started directly.
"""

from __future__ import annotations

import os
import runpy
import sys

from asyncgraph._install import install_as_langgraph

USAGE = """\
usage: python -m asyncgraph run SCRIPT.py [ARGS...]
       python -m asyncgraph run -m MODULE [ARGS...]
       asyncgraph dev [--config langgraph.json] [--host 127.0.0.1] [--port 2024]
                      [--data-dir .asyncgraph | --in-memory]

Runs SCRIPT (or MODULE, as `python -m` would) with install_as_langgraph() active:
every `import langgraph...` in the process loads asyncgraph's module of the same path.
`dev` serves the graphs of langgraph.json over the LangGraph Server API (in memory).
"""


def _dev(args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="asyncgraph dev", description="Serve langgraph.json's graphs.")
    parser.add_argument("--config", default="langgraph.json", help="path of langgraph.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2024)
    parser.add_argument("--data-dir", default=".asyncgraph",
                        help="directory of the SQLite files (default: .asyncgraph)")
    parser.add_argument("--in-memory", action="store_true", help="keep nothing on disk")
    opts = parser.parse_args(args)
    try:
        from asyncgraph.server import ConfigError, run_dev
    except ImportError as exc:  # the server extra is not installed
        print(f"asyncgraph dev needs the server extra (pip install 'asyncgraph[server]'): {exc}", file=sys.stderr)
        return 2
    try:
        run_dev(opts.config, host=opts.host, port=opts.port,
                data_dir=None if opts.in_memory else opts.data_dir)
    except ConfigError as exc:
        print(f"asyncgraph dev: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if args[0] == "dev":
        return _dev(args[1:])
    if args[0] != "run" or len(args) < 2:
        print(USAGE, end="", file=sys.stderr)
        return 2
    rest = args[1:]
    install_as_langgraph()
    if rest[0] == "-m":
        if len(rest) < 2:
            print(USAGE, end="", file=sys.stderr)
            return 2
        module = rest[1]
        sys.argv = [module, *rest[2:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = rest[0]
        sys.argv = [script, *rest[1:]]
        # As `python script.py` does: the script's directory comes first on the path.
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())

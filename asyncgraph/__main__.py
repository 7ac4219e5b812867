"""``python -m asyncgraph run app.py [args]`` / ``python -m asyncgraph run -m pkg.mod [args]``.

Also ``asyncgraph dev [--config langgraph.json] [--host H] [--port 2024]``: the dev server,
and ``asyncgraph serve`` / ``asyncgraph worker --database-url postgresql://...``: the same
API on PostgreSQL with runs carried by worker processes (:mod:`asyncgraph.server`, needs
the ``server`` extra).

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
       asyncgraph serve --database-url postgresql://... [--config langgraph.json]
                        [--host 127.0.0.1] [--port 2024]
       asyncgraph worker --database-url postgresql://... [--config langgraph.json]
                         [--concurrency 100]

Runs SCRIPT (or MODULE, as `python -m` would) with install_as_langgraph() active:
every `import langgraph...` in the process loads asyncgraph's module of the same path.
`dev` serves the graphs of langgraph.json over the LangGraph Server API (one process).
`serve` is the API on PostgreSQL; runs are carried by `worker` processes (any number).
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
    parser.add_argument("--no-reload", action="store_true",
                        help="do not restart the server when the graphs' files change")
    opts = parser.parse_args(args)
    try:
        from asyncgraph.server import ConfigError, run_dev
    except ImportError as exc:  # the server extra is not installed
        print(f"asyncgraph dev needs the server extra (pip install 'asyncgraph[server]'): {exc}", file=sys.stderr)
        return 2
    try:
        run_dev(opts.config, host=opts.host, port=opts.port,
                data_dir=None if opts.in_memory else opts.data_dir, reload=not opts.no_reload)
    except ConfigError as exc:
        print(f"asyncgraph dev: {exc}", file=sys.stderr)
        return 2
    return 0


def _serve_or_worker(command: str, args: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"asyncgraph {command}",
        description="The LangGraph Server API on PostgreSQL" if command == "serve"
        else "Run the graphs of `asyncgraph serve` (PostgreSQL + procrastinate)",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URI") or os.environ.get("DATABASE_URL"),
                        help="postgresql://... (default: $DATABASE_URI or $DATABASE_URL)")
    parser.add_argument("--config", default="langgraph.json", help="path of langgraph.json")
    parser.add_argument("--pool-size", type=int, default=20,
                        help="database connections of this process (mind PostgreSQL's max_connections "
                        "across all serve and worker processes)")
    if command == "serve":
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2024)
        parser.add_argument("--max-body-bytes", type=int, default=10 * 1024 * 1024)
    else:
        parser.add_argument("--concurrency", type=int, default=100, help="runs carried at once")
        parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
        parser.add_argument("--stall-after", type=float, default=3.0,
                            help="seconds without a heartbeat after which a worker's runs are re-delivered")
    opts = parser.parse_args(args)
    if not opts.database_url:
        parser.error("--database-url is required (or set DATABASE_URI)")
    try:
        from asyncgraph.server import ConfigError
        from asyncgraph.server._serve import run_serve, run_worker
    except ImportError as exc:  # the server or postgres extra is not installed
        print(f"asyncgraph {command} needs the server extra (pip install 'asyncgraph[server]'): {exc}", file=sys.stderr)
        return 2
    try:
        if command == "serve":
            run_serve(opts.config, opts.database_url, host=opts.host, port=opts.port,
                      max_body_bytes=opts.max_body_bytes, pool_size=opts.pool_size)
        else:
            run_worker(opts.config, opts.database_url, concurrency=opts.concurrency,
                       heartbeat=opts.heartbeat, stall_after=opts.stall_after, pool_size=opts.pool_size)
    except ConfigError as exc:
        print(f"asyncgraph {command}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if args[0] == "dev":
        return _dev(args[1:])
    if args[0] in ("serve", "worker"):
        return _serve_or_worker(args[0], args[1:])
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

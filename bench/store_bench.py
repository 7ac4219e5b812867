"""Store benchmark: asyncgraph's stores next to LangGraph's, per operation.

For each back end (in-memory, SQLite file, PostgreSQL) and each implementation, a fresh
interpreter fills a store with N items (default 10,000) one ``put`` at a time, then
times ``get`` by key, a filtered ``search`` (an equality plus a range, limit 10) and a
semantic ``search`` (``query=``, limit 10, 256-dimension vectors). Both sides get the
same values and the same embedding function: a lookup of precomputed random vectors, so
the embedding model costs nothing and only the store is measured.

LangGraph's SQL stores need a vector extension for semantic search (pgvector; sqlite-vec,
which needs an interpreter whose ``sqlite3`` can load extensions). Where the machine
lacks it (here: both), the SQL stores run put/get/filter without an index on both sides
and semantic search is timed for asyncgraph only, on a second, indexed store. ``put`` is timed over the last
1,000 items, put one at a time into a store already holding the others (filled in
batches, untimed). Each op's time is the median over 10 consecutive runs of its calls
(``timed``), so a run preempted by other work on the machine does not move it.
Implementations run one after the other, never in parallel, in rotating order over
``--rounds`` rounds; the table shows medians.

Run: ``python bench/store_bench.py [--n 10000] [--rounds 2] [--only memory,sqlite] [--floor]``.
``--floor`` adds the driver alone (``sqlite3`` / ``psycopg`` running asyncgraph's put and
get statements with their parameters ready): the least a store over that database costs;
for PostgreSQL also one level down, libpq alone (``conn.pgconn``: statements prepared once,
binary results, the row not even decoded), the least any Python client can spend.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

DIMS = 256
PG_ADMIN = os.environ.get("ASYNCGRAPH_TEST_PG", "postgresql://root@127.0.0.1:5432/postgres")
TARGET = 1 / 3


class LookupEmbeddings:
    """Precomputed vectors by text: embedding costs a dict lookup on both sides."""

    def __new__(cls, n: int) -> Any:
        from langchain_core.embeddings import Embeddings

        rng = random.Random(7)
        table: dict[str, list[float]] = {}

        class _Lookup(Embeddings):
            def _vec(self, text: str) -> list[float]:
                vec = table.get(text)
                if vec is None:
                    vec = table[text] = [rng.gauss(0, 1) for _ in range(DIMS)]
                return vec

            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [self._vec(t) for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return self._vec(text)

            async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
                return self.embed_documents(texts)

            async def aembed_query(self, text: str) -> list[float]:
                return self._vec(text)

        emb = _Lookup()
        for i in range(n):
            emb._vec(f"document number {i}")
        for q in range(50):
            emb._vec(f"query {q}")
        return emb


def value(i: int) -> dict[str, Any]:
    return {"text": f"document number {i}", "i": i, "cat": f"c{i % 10}", "score": (i * 37) % 101}


def open_store(impl: str, backend: str, n: int, dsn: str, path: str) -> Any:
    from contextlib import nullcontext

    pkg = "langgraph" if impl == "langgraph" else "asyncgraph"
    index = {"dims": DIMS, "embed": LookupEmbeddings(n), "fields": ["text"]}
    if backend == "memory":
        mod = __import__(f"{pkg}.store.memory", fromlist=["InMemoryStore"])
        return nullcontext(mod.InMemoryStore(index=index))
    # LangGraph's SQL stores need a vector extension for an index: both sides run without
    # one, and asyncgraph's semantic search is timed on a second, indexed store.
    if backend == "sqlite":
        mod = __import__(f"{pkg}.store.sqlite", fromlist=["SqliteStore"])
        return mod.SqliteStore.from_conn_string(path)
    mod = __import__(f"{pkg}.store.postgres", fromlist=["PostgresStore"])
    return mod.PostgresStore.from_conn_string(dsn)


def timed(fn: Any, count: int, budget: float, chunks: int = 10) -> float:
    """Seconds per call: ``fn(0)`` ... ``fn(count - 1)`` in ``chunks`` consecutive runs,
    the median of the runs' means (on a loaded machine a run preempted by another process
    does not move it); fewer runs if ``budget`` seconds run out, at least one."""
    size = max(1, count // chunks)
    means: list[float] = []
    start = time.perf_counter()
    i = 0
    while i < count:
        stop = min(count, i + size)
        t0 = time.perf_counter()
        for j in range(i, stop):
            fn(j)
        means.append((time.perf_counter() - t0) / (stop - i))
        i = stop
        if time.perf_counter() - start > budget:
            break
    return statistics.median(means)


def floor(backend: str, n: int, dsn: str) -> dict[str, Any]:
    """The driver alone (``sqlite3`` / ``psycopg``): asyncgraph's own put and get
    statements, parameters ready, on the connection of an asyncgraph store filled the
    same way. What a store could cost with no code of its own."""
    import gc

    from asyncgraph.store.base import PutOp

    rng = random.Random(1)
    ns = [("users", f"u{j}", "memories") for j in range(10)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, open_store("asyncgraph", backend, n, dsn, os.path.join(tmp, "s.db")) as store:
        store.setup()
        timed_puts = min(1000, n)
        for start in range(0, n - timed_puts, 500):
            stop = min(n - timed_puts, start + 500)
            store.batch([PutOp(ns[i % 10], f"k{i}", value(i)) for i in range(start, stop)])
        base = n - timed_puts
        rows = [store._core.put_stmt(ns[(base + i) % 10], f"k{base + i}", value(base + i), None).params
                for i in range(timed_puts)]
        upsert, get_one = store._core._upsert, store._core._get_one
        keys = [(".".join(ns[i % 10]), f"k{i}") for i in (rng.randrange(n) for _ in range(2000))]
        conn = store.conn
        gc.collect()
        if backend == "sqlite":
            out["put"] = timed(lambda i: conn.execute(upsert, rows[i]), timed_puts, 1e9)
            out["get"] = timed(lambda i: conn.execute(get_one, keys[i % 2000]).fetchone(), 10_000, 5.0)
        else:
            # Through psycopg's cursor (prepared after 5 runs, psycopg's default), and one
            # level down through libpq (statement prepared once, binary results, row left
            # undecoded): the least any client of this server can spend per statement.
            cur = conn.cursor()
            half = timed_puts // 2
            out["put"] = timed(lambda i: cur.execute(upsert, rows[i]), half, 1e9)
            out["get"] = timed(lambda i: cur.execute(get_one, keys[i % 2000]).fetchone(), 10_000, 5.0)
            pgconn = conn.pgconn
            numbered = [sql.replace("%s", "${}").format(*range(1, sql.count("%s") + 1)) for sql in (upsert, get_one)]
            pgconn.prepare(b"floor_put", numbered[0].encode())
            pgconn.prepare(b"floor_get", numbered[1].encode())
            put_args = [[None if v is None else str(v).encode() for v in row] for row in rows]
            get_args = [[p.encode() for p in k] for k in keys]

            def put_raw(i: int) -> None:
                res = pgconn.exec_prepared(b"floor_put", put_args[half + i])
                assert res.status == 1, res.error_message  # COMMAND_OK

            def get_raw(i: int) -> None:
                res = pgconn.exec_prepared(b"floor_get", get_args[i % 2000], result_format=1)
                assert res.status == 2 and res.ntuples == 1, res.error_message  # TUPLES_OK

            out["put_libpq"] = timed(put_raw, timed_puts - half, 1e9)
            out["get_libpq"] = timed(get_raw, 10_000, 5.0)
    return out


def worker(impl: str, backend: str, n: int, dsn: str) -> dict[str, Any]:
    import gc

    if impl == "floor":
        return floor(backend, n, dsn)

    rng = random.Random(1)
    ns = [("users", f"u{j}", "memories") for j in range(10)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "store.db")
        with open_store(impl, backend, n, dsn, path) as store:
            if hasattr(store, "setup"):
                store.setup()
            # The first N - 1,000 items go in as batches (untimed); the last 1,000 are
            # timed one put at a time, into a store that already holds the rest.
            put_op = __import__(f"{'langgraph' if impl == 'langgraph' else 'asyncgraph'}.store.base", fromlist=["PutOp"]).PutOp
            timed_puts = min(1000, n)
            for start in range(0, n - timed_puts, 500):
                stop = min(n - timed_puts, start + 500)
                store.batch([put_op(ns[i % 10], f"k{i}", value(i)) for i in range(start, stop)])
            base = n - timed_puts
            gc.collect()
            # Arguments made beforehand: the put is timed, not building its value.
            puts = [(ns[(base + i) % 10], f"k{base + i}", value(base + i)) for i in range(timed_puts)]
            out["put"] = timed(lambda i: store.put(*puts[i]), timed_puts, 1e9)
            keys = [(ns[i % 10], f"k{i}") for i in (rng.randrange(n) for _ in range(2000))]
            assert store.get(*keys[0]) is not None
            out["get"] = timed(lambda i: store.get(*keys[i % 2000]), 10_000, 5.0)
            flt = {"cat": "c3", "i": {"$gte": n // 2}}
            found = store.search(("users",), filter=flt, limit=10)
            assert len(found) == 10 and all(r.value["cat"] == "c3" for r in found), found
            out["search_filter"] = timed(
                lambda i: store.search(("users",), filter=flt, limit=10), 300, 5.0
            )
            if backend == "memory":
                hits = store.search(("users",), query="query 0", limit=10)
                assert len(hits) == 10 and hits[0].score is not None
                out["search_semantic"] = timed(
                    lambda i: store.search(("users",), query=f"query {i % 50}", limit=10), 50, 8.0
                )
        if backend != "memory" and impl == "asyncgraph":
            out["search_semantic"] = _sql_semantic(backend, n, dsn, os.path.join(tmp, "sem.db"))
    return out


def _sql_semantic(backend: str, n: int, dsn: str, path: str) -> float:
    from asyncgraph.store.postgres import PostgresStore
    from asyncgraph.store.sqlite import SqliteStore

    index = {"dims": DIMS, "embed": LookupEmbeddings(n), "fields": ["text"]}
    opened = (
        SqliteStore.from_conn_string(path, index=index)
        if backend == "sqlite"
        else PostgresStore.from_conn_string(dsn, index=index)
    )
    with opened as store:
        store.setup()
        ns = [("sem", f"u{j}") for j in range(10)]
        from asyncgraph.store.base import PutOp

        for start in range(0, n, 500):
            store.batch([PutOp(ns[i % 10], f"k{i}", value(i)) for i in range(start, min(n, start + 500))])
        hits = store.search(("sem",), query="query 0", limit=10)
        assert len(hits) == 10 and hits[0].score is not None
        return timed(lambda i: store.search(("sem",), query=f"query {i % 50}", limit=10), 20, 8.0)


def fresh_db() -> str:
    import psycopg

    name = f"ag_store_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return name


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_one(impl: str, backend: str, n: int) -> dict[str, Any]:
    db = fresh_db() if backend == "postgres" else ""
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + db if db else ""
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", impl, backend, str(n), dsn],
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
    finally:
        if db:
            drop_db(db)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


OPS = ("put", "get", "search_filter", "search_semantic")


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    us = seconds * 1e6
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="memory,sqlite,postgres")
    parser.add_argument("--floor", action="store_true",
                        help="also time the bare driver running asyncgraph's put/get statements (SQL back ends)")
    parser.add_argument("--worker", nargs=4, metavar=("IMPL", "BACKEND", "N", "DSN"))
    args = parser.parse_args()
    if args.worker:
        impl, backend, n, dsn = args.worker
        print(json.dumps(worker(impl, backend, int(n), dsn)))
        return
    backends = [b for b in args.only.split(",") if b]
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in range(args.rounds):
        for backend in backends:
            impls = ["langgraph", "asyncgraph"] if r % 2 == 0 else ["asyncgraph", "langgraph"]
            if args.floor and backend != "memory":
                impls.append("floor")
            for impl in impls:
                result = run_one(impl, backend, args.n)
                if "error" in result:
                    print(f"{impl} {backend}: {result['error']}", file=sys.stderr)
                    continue
                for op, sec in result.items():
                    rows.setdefault((backend, op), {}).setdefault(impl, []).append(sec)
                print(f"round {r + 1} {backend} {impl}: " + ", ".join(f"{k} {fmt(v)}" for k, v in result.items()), file=sys.stderr)
    print(f"\nN = {args.n:,} items, {DIMS}-dim vectors, medians of {args.rounds} rounds\n")
    extra = " driver alone | floor / LangGraph | libpq alone | libpq / LangGraph |" if args.floor else ""
    print("| back end | op | LangGraph | asyncgraph | ratio | met (≤ 1/3) |" + extra)
    print("|---|---|---|---|---|---|" + ("---|---|---|---|" if args.floor else ""))
    for backend in backends:
        for op in OPS:
            cell = rows.get((backend, op), {})
            lg = statistics.median(cell["langgraph"]) if cell.get("langgraph") else None
            ag = statistics.median(cell["asyncgraph"]) if cell.get("asyncgraph") else None
            ratio = f"{ag / lg:.3f}" if lg and ag else "—"
            met = ("yes" if ag / lg <= TARGET else "no") if lg and ag else "—"
            line = f"| {backend} | {op} | {fmt(lg)} | {fmt(ag)} | {ratio} | {met} |"
            if args.floor:
                for kind in ("floor", "libpq"):
                    src = cell if kind == "floor" else rows.get((backend, f"{op}_libpq"), {})
                    fl = statistics.median(src["floor"]) if src.get("floor") else None
                    line += f" {fmt(fl)} | {f'{fl / lg:.3f}' if fl and lg else '—'} |"
            print(line)


if __name__ == "__main__":
    main()

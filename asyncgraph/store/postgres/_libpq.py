"""The store's one-row reads straight through libpq: the hot path of ``PostgresStore.get``.

A ``get`` is one primary-key lookup, so its time is a round trip plus what the client
spends around it. Through a cursor that client part is most of the CPU: a cursor object,
its adapters, psycopg's generator-based execute and its statement cache (measured: about
80 µs of CPU per get through a cursor against 30 µs for the bare libpq round trip; on a
loaded machine CPU time is wall time too). :class:`OneRowReader` goes one level down, to the libpq binding psycopg
itself uses (``conn.pgconn``): the statement is prepared once per connection under its
own name, sent with binary results, waited on by psycopg's own C wait loop
(``conn.wait``, which also cancels the query on Ctrl-C), and its one row decoded here.

It is only a shortcut: whenever it cannot answer exactly as the cursor would, it returns
:data:`UNAVAILABLE` and the caller runs the statement through a cursor. That is the case
on a connection in a transaction, in pipeline mode, with prepared statements turned off
(``prepare_threshold=None``, as behind PgBouncer), with another client encoding than
UTF-8 or a customized JSONB loader, and for a column type it does not decode.
Timestamps come out as psycopg makes them: in the connection's time zone.
"""

from __future__ import annotations

import hashlib
import struct
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from asyncgraph.store._sql import loads

__all__ = ["UNAVAILABLE", "OneRowReader", "decode_row"]

UNAVAILABLE: Any = object()  # "use a cursor instead"

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # where binary timestamps count from
_INT8 = struct.Struct("!q").unpack
_FLOAT8 = struct.Struct("!d").unpack
_FLOAT4 = struct.Struct("!f").unpack

TEXT, JSONB, TIMESTAMPTZ, FLOAT4, FLOAT8 = 25, 3802, 1184, 700, 701


def _timestamptz(data: bytes, tz: Any) -> datetime:
    return (_PG_EPOCH + timedelta(microseconds=_INT8(data)[0])).astimezone(tz)


def _jsonb(data: bytes, tz: Any) -> Any:
    if data[:1] != b"\x01":  # binary jsonb is a version byte, then the JSON text
        raise ValueError(f"unknown binary jsonb version {data[:1]!r}")
    return loads(data[1:])


# Binary result decoders by type OID: (bytes, connection time zone) -> value.
_DECODERS: dict[int, Callable[[bytes, Any], Any]] = {
    TEXT: lambda data, tz: data.decode(),
    JSONB: _jsonb,
    TIMESTAMPTZ: _timestamptz,
    FLOAT8: lambda data, tz: _FLOAT8(data)[0],
    FLOAT4: lambda data, tz: _FLOAT4(data)[0],
}


def decode_row(result: Any, tz: Any) -> tuple[Any, ...]:
    """Row 0 of a binary result. Equal timestamps in a row (an item never updated: its
    created_at and updated_at) become one datetime, built once."""
    row: list[Any] = []
    stamp: tuple[bytes, datetime] | None = None
    for i in range(result.nfields):
        data = result.get_value(0, i)
        if data is None:
            row.append(None)
            continue
        oid = result.ftype(i)
        if oid == TIMESTAMPTZ:
            if stamp is None or stamp[0] != data:
                stamp = (data, _timestamptz(data, tz))
            row.append(stamp[1])
        else:
            row.append(_DECODERS[oid](data, tz))
    return tuple(row)


class OneRowReader:
    """Runs one fixed single-row SELECT on psycopg connections through libpq.

    Created on a store's first get (psycopg is imported by then: the store has a
    connection). Thread-safe as psycopg's connections are: under ``conn.lock``.

    Args:
        sql: the statement, with ``%s`` placeholders (psycopg's), all text parameters.
    """

    def __init__(self, sql: str) -> None:
        # Imported here, for import time: psycopg is an optional dependency.
        from psycopg import errors, generators, pq
        from psycopg.types.json import JsonbBinaryLoader

        numbered = sql
        n = 0
        while "%s" in numbered:
            n += 1
            numbered = numbered.replace("%s", f"${n}", 1)
        self._sql = numbered.encode()
        self._name = b"asyncgraph_" + hashlib.sha1(self._sql).hexdigest()[:16].encode()
        # Connections this statement is prepared on (a pool hands out several).
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()
        self._errors = errors
        self._execute = generators.execute
        self._jsonb_loader = JsonbBinaryLoader
        self._idle = int(pq.TransactionStatus.IDLE)
        self._pipeline_off = int(pq.PipelineStatus.OFF)
        self._binary = int(pq.Format.BINARY)
        self._tuples_ok = int(pq.ExecStatus.TUPLES_OK)
        self._command_ok = int(pq.ExecStatus.COMMAND_OK)
        self._sqlstate = pq.DiagnosticField.SQLSTATE

    def fetch_one(self, conn: Any, params: tuple[str, ...]) -> Any:
        """The first row as a tuple, None if there is none, or :data:`UNAVAILABLE`."""
        pgconn = conn.pgconn
        if (
            not conn.autocommit
            or conn.prepare_threshold is None
            or pgconn.transaction_status != self._idle
            or pgconn.pipeline_status != self._pipeline_off
            or pgconn.parameter_status(b"client_encoding") != b"UTF8"
            or any("\x00" in p for p in params)  # psycopg's own error for NUL, not the server's
        ):
            return UNAVAILABLE
        with conn.lock:
            if conn not in self._prepared and not self._prepare(conn):
                return UNAVAILABLE
            pgconn.send_query_prepared(self._name, [p.encode() for p in params], result_format=self._binary)
            result = conn.wait(self._execute(pgconn))[-1]
        if result.status != self._tuples_ok:
            if result.error_field(self._sqlstate) == b"26000":  # invalid_sql_statement_name
                self._prepared.discard(conn)  # deallocated behind our back (DEALLOCATE ALL, DISCARD ALL)
                return UNAVAILABLE
            raise self._errors.error_from_result(result, encoding="utf-8")
        if not result.ntuples:
            return None
        try:
            return decode_row(result, conn.info.timezone)
        except (KeyError, ValueError, OverflowError):  # a type or value the cursor must handle
            return UNAVAILABLE

    def _prepare(self, conn: Any) -> bool:
        """Prepare the statement on ``conn`` (under its lock); False if this connection
        decodes JSONB its own way (``set_json_loads``), which the cursor must honour."""
        if conn.adapters.get_loader(JSONB, self._binary) is not self._jsonb_loader:
            return False
        pgconn = conn.pgconn
        pgconn.send_prepare(self._name, self._sql)
        result = conn.wait(self._execute(pgconn))[-1]
        if result.status != self._command_ok and result.error_field(self._sqlstate) != b"42P05":
            raise self._errors.error_from_result(result, encoding="utf-8")  # 42P05: already prepared
        self._prepared.add(conn)
        return True

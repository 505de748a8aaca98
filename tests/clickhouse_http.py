"""A test fixture: ClickHouse's HTTP interface, served by this process's embedded chdb.

There is no modern ClickHouse server on the test machines (Debian's is from 2018), and chdb
does not start its own listeners (``SYSTEM START LISTEN HTTP`` in chdb 4.4 says "start_servers_
callback is not set"). So this small server speaks the part of ClickHouse's HTTP interface that
clickhouse-connect uses, and runs every query it receives in chdb, a real ClickHouse engine:

- the SQL from the URL's ``query`` field or the request body (GET and POST, and multipart form
  fields, which clickhouse-connect uses for long parameter lists);
- ``param_<name>`` fields passed to chdb as query parameters, as received (escaped text);
- ``database`` (a ``USE`` first), ``default_format``, and every other field taken as a
  ClickHouse setting (``SET name = 'value'``) on a chdb session of the request's own;
- an ``INSERT ... FORMAT X`` with its data in the body: the body is written to a file and
  inserted with ``INSERT ... SELECT * FROM file(path, X)``;
- user and password from the X-ClickHouse-User/Key headers or Basic auth, checked against the
  fixture's; errors as ClickHouse sends them (status 500/516, ``X-ClickHouse-Exception-Code``).

What it does not do: compression, sessions, progress headers, TLS (the URL parsing for TLS is
tested on its own). Every request is kept in ``requests`` so tests can see what arrived.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

from funnelscope.store.clickhouse.connection import session

INSERT_WITH_DATA = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*$", re.I | re.S)
FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.I)
# fields of the HTTP interface itself, not settings of a query
NOT_SETTINGS = {
    "query",
    "database",
    "default_format",
    "query_id",
    "session_id",
    "session_timeout",
    "user",
    "password",
    "compress",
    "decompress",
    "buffer_size",
    "wait_end_of_query",
}


@dataclass
class Received:
    """One request as the shim saw it."""

    sql: str
    params: dict[str, str]
    settings: dict[str, str]
    database: str
    user: str
    form: bool  # sent as multipart form fields


@dataclass
class ChdbHttpServer:
    """The shim, serving on 127.0.0.1 at `port` until :meth:`stop`."""

    user: str = "default"
    password: str = ""
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ChdbHttpServer:
        session()  # the process's chdb engine (in memory), shared with in-process sources
        shim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                shim._handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                shim._handle(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        fields = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            fields.update(_form_fields(kind, body))
            body = b""
        user, password = _credentials(request, fields)
        if (user, password) != (self.user, self.password):
            name = user.replace("\n", " ")
            return _reply(
                request,
                516,
                f"Code: 516. DB::Exception: {name}: Authentication failed: password is "
                "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)".encode(),
                {"X-ClickHouse-Exception-Code": "516"},
            )
        sql = fields.get("query", "")
        data = b""
        if sql and body:
            data = body
        elif not sql:
            sql = body.decode()
        params = {k.removeprefix("param_"): v for k, v in fields.items() if k.startswith("param_")}
        settings = {
            k: v for k, v in fields.items() if k not in NOT_SETTINGS and not k.startswith("param_")
        }
        database = fields.get("database", "default")
        self.requests.append(
            Received(sql, params, settings, database, user, kind.startswith("multipart/"))
        )
        try:
            output, fmt = self._run(sql, data, params, settings, database, fields)
        except Exception as exc:  # chdb's errors carry ClickHouse's text and code
            text = str(exc)
            code = re.search(r"Code: (\d+)", text)
            return _reply(
                request,
                500,
                text.encode(),
                {"X-ClickHouse-Exception-Code": code.group(1) if code else "1"},
            )
        _reply(
            request,
            200,
            output,
            {
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Query-Id": fields.get("query_id", "shim"),
                "X-ClickHouse-Summary": '{"read_rows":"0","read_bytes":"0","written_rows":"0",'
                '"written_bytes":"0","total_rows_to_read":"0","result_rows":"0",'
                '"result_bytes":"0","elapsed_ns":"0"}',
            },
        )

    def _run(
        self,
        sql: str,
        data: bytes,
        params: dict[str, str],
        settings: dict[str, str],
        database: str,
        fields: dict[str, str],
    ) -> tuple[bytes, str]:
        conn = chdb_session.Session()  # a connection of its own: USE and SET stay here
        try:
            conn.query(f"USE `{database}`")
            for name, value in settings.items():
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise ValueError(f"Code: 115. DB::Exception: Unknown setting {name}")
                literal = value.replace("\\", "\\\\").replace("'", "\\'")
                conn.query(f"SET {name} = '{literal}'")
            if data:
                insert = INSERT_WITH_DATA.match(sql)
                if insert is None:
                    raise ValueError("Code: 62. DB::Exception: data sent without INSERT ... FORMAT")
                handle, path = tempfile.mkstemp(prefix="chshim-", suffix=".data")
                try:
                    with os.fdopen(handle, "wb") as out:
                        out.write(data)
                    conn.query(
                        f"{insert.group(1)} SELECT * FROM file('{path}', '{insert.group(2)}')"
                    )
                finally:
                    os.unlink(path)
                return b"", "TabSeparated"
            fmt = fields.get("default_format", "TabSeparated")
            named = FORMAT_CLAUSE.search(sql)
            if named:
                fmt = named.group(0).split()[1].rstrip(";")
            result = conn.query(sql, fmt, params=params)
            return result.bytes(), fmt
        finally:
            conn.close()


def _credentials(request: BaseHTTPRequestHandler, fields: dict[str, str]) -> tuple[str, str]:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password
    user = request.headers.get("X-ClickHouse-User") or fields.get("user", "default")
    return user, request.headers.get("X-ClickHouse-Key") or fields.get("password", "")


def _form_fields(kind: str, body: bytes) -> dict[str, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {kind}\r\n\r\n".encode() + body
    )
    found = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            found[name] = payload.decode()
    return found


def _reply(
    request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
) -> None:
    request.send_response(status)
    request.send_header("Content-Length", str(len(body)))
    request.send_header("Content-Type", "application/octet-stream")
    for name, value in headers.items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)

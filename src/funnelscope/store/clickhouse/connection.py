"""Connections to ClickHouse: an embedded chdb session (one per process) or a server through
clickhouse-connect, behind one small interface (query to Arrow, command, insert Arrow).

Where a ClickHouse store lives is written as ``--db``:

- ``clickhouse://user[:password]@host[:port]/database?secure=true&verify=false&ca_cert=PATH``
  and any ClickHouse setting as ``&name=value`` (``clickhouses://`` is the same with TLS); the
  password may come from the environment variable FUNNELSCOPE_CLICKHOUSE_PASSWORD instead, and
  is never shown in messages;
- ``chdb:PATH``: an embedded ClickHouse (chdb) keeping its data in the directory PATH.

Query parameters (``{name:Type}`` placeholders) are always sent apart from the SQL, as
ClickHouse's escaped text (:func:`param_text`): to chdb as its ``params``, to a server as the
HTTP ``param_<name>`` fields, the very same text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa

from funnelscope.errors import FunnelscopeError

PASSWORD_ENV: Final = "FUNNELSCOPE_CLICKHOUSE_PASSWORD"
SCHEMES: Final = ("clickhouse://", "clickhouses://", "chdb:")
DEFAULT_DATABASE: Final = "funnelscope"
CHDB_DATABASE: Final = "funnelscope"  # the database of an embedded store
IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
URL_HINT: Final = (
    "write it as clickhouse://user[:password]@host[:port]/database[?secure=true&name=value] "
    "or chdb:PATH"
)
# URL query keys that configure the connection; every other key is a ClickHouse setting
CONNECTION_KEYS: Final = ("secure", "verify", "ca_cert", "connect_timeout", "send_receive_timeout")
TRUE: Final = ("1", "true", "yes", "on")
FALSE: Final = ("0", "false", "no", "off")


class ClickHouseError(FunnelscopeError):
    """A ClickHouse store cannot be reached, read or written."""


def is_clickhouse(db: str) -> bool:
    """Whether `db` names a ClickHouse store (a server URL or an embedded chdb path)."""
    return db.startswith(SCHEMES)


def param_text(value: str) -> str:
    """`value` as ClickHouse reads a query parameter (its escaped text form): backslashes and
    control characters escaped, nothing else; quotes are data, never SQL."""
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def quote_name(name: str) -> str:
    """An identifier in backquotes, its backquotes and backslashes escaped."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass(frozen=True)
class ServerAddress:
    """A parsed ``clickhouse://`` URL. Its text (``str``) never holds the password."""

    host: str
    port: int
    database: str
    username: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False
    verify: bool = True
    ca_cert: str | None = None
    connect_timeout: int = 10
    send_receive_timeout: int = 300
    settings: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        scheme = "clickhouses" if self.secure else "clickhouse"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{self.username}@{host}:{self.port}/{self.database}"


def parse_url(db: str, environ: Mapping[str, str] | None = None) -> ServerAddress:
    """A ``clickhouse://`` or ``clickhouses://`` URL as a :class:`ServerAddress`; errors name
    the URL without its password."""
    environ = os.environ if environ is None else environ
    shown = _redacted(db)
    parts = urlsplit(db)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ClickHouseError(f"{shown}: not a ClickHouse URL; {URL_HINT}")
    try:
        port = parts.port
        host = parts.hostname
    except ValueError as exc:  # a port that is not a number, out of range
        raise ClickHouseError(f"{shown}: {exc}; {URL_HINT}") from None
    if not host:
        raise ClickHouseError(f"{shown}: the URL names no host; {URL_HINT}")
    database = unquote(parts.path.lstrip("/")) or DEFAULT_DATABASE
    if not IDENTIFIER.fullmatch(database):
        raise ClickHouseError(
            f"{shown}: database {database!r} is not a plain name; use letters, digits and _"
        )
    options: dict[str, str] = {}
    settings: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key in CONNECTION_KEYS:
            options[key] = value
        elif IDENTIFIER.fullmatch(key):
            settings.append((key, value))
        else:
            raise ClickHouseError(
                f"{shown}: {key!r} is not a ClickHouse setting name; settings are written "
                "?name=value with letters, digits and _"
            )
    secure = parts.scheme == "clickhouses" or _flag(options, "secure", False, shown)
    password = unquote(parts.password) if parts.password is not None else ""
    if not password:
        password = environ.get(PASSWORD_ENV, "")
    return ServerAddress(
        host=host,
        port=port or (8443 if secure else 8123),
        database=database,
        username=unquote(parts.username) if parts.username else "default",
        password=password,
        secure=secure,
        verify=_flag(options, "verify", True, shown),
        ca_cert=options.get("ca_cert") or None,
        connect_timeout=_seconds(options, "connect_timeout", 10, shown),
        send_receive_timeout=_seconds(options, "send_receive_timeout", 300, shown),
        settings=tuple(settings),
    )


def _redacted(db: str) -> str:
    """`db` with any password in it replaced by ``***``."""
    return re.sub(r"^([a-z]+://[^:/@?#]*):[^@/?#]*@", r"\1:***@", db)


def _flag(options: Mapping[str, str], key: str, default: bool, shown: str) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ClickHouseError(f"{shown}: {key}={value!r} is not true or false")


def _seconds(options: Mapping[str, str], key: str, default: int, shown: str) -> int:
    value = options.get(key)
    if value is None:
        return default
    if not value.isdigit() or int(value) == 0:
        raise ClickHouseError(f"{shown}: {key}={value!r} is not a whole number of seconds")
    return int(value)


class Connection(Protocol):
    """What the store and the engine need of ClickHouse."""

    database: str
    where: str  # the store's place in words, for people (never a password)

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> pa.Table: ...

    def command(self, sql: str, params: Mapping[str, str] | None = None) -> None: ...

    def insert_arrow(self, table: str, rows: pa.Table) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------- embedded (chdb)

_SESSION: Any = None
_SESSION_PATH: str | None = None  # None: in memory


def session(path: str | None = None) -> Any:
    """The process's chdb session, started on first use: in memory, or over the directory
    `path`. chdb runs one engine per process, so asking for another path later is refused."""
    global _SESSION, _SESSION_PATH
    if _SESSION is None:
        from chdb import session as chdb_session

        _SESSION = chdb_session.Session() if path is None else chdb_session.Session(path)
        _SESSION_PATH = path
    elif path is not None and path != _SESSION_PATH:
        where = "in memory" if _SESSION_PATH is None else f"over {_SESSION_PATH}"
        raise ClickHouseError(
            f"chdb:{path}: this process's embedded ClickHouse already runs {where}; chdb runs "
            "one engine per process, so open one chdb store per run"
        )
    return _SESSION


def arrow_of(result: Any) -> pa.Table:
    """A chdb result in the Arrow file format as a table (an empty table for no output)."""
    data = result.bytes()
    if not data:
        return pa.table({})
    return pa.ipc.open_file(pa.py_buffer(data)).read_all()


class ChdbConnection:
    """The process's embedded ClickHouse; the store's tables in database `database`."""

    def __init__(self, path: str | None, database: str = CHDB_DATABASE) -> None:
        self.database = database
        self.where = "embedded ClickHouse in memory" if path is None else f"chdb:{path}"
        self._session = session(path)

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> pa.Table:
        try:
            return arrow_of(self._session.query(sql, "Arrow", params=dict(params or {})))
        except RuntimeError as exc:
            raise ClickHouseError(f"{self.where}: {_first_line(exc)}") from exc

    def command(self, sql: str, params: Mapping[str, str] | None = None) -> None:
        self.query(sql, params)

    def insert_arrow(self, table: str, rows: pa.Table) -> None:
        """Append `rows` (columns in the table's order) to `table` of the store's database."""
        if not rows.num_rows:
            return
        target = f"{quote_name(self.database)}.{quote_name(table)}"
        try:  # chdb's Python() table function reads the local variable `rows` by its name
            self._session.query(f"INSERT INTO {target} SELECT * FROM Python(rows)")
        except RuntimeError as exc:
            raise ClickHouseError(f"{self.where}: {_first_line(exc)}") from exc

    def close(self) -> None:
        """The session stays open for the process (chdb cannot start another one)."""


# --------------------------------------------------------------------- a server


class _Escaped:
    """A query parameter already in ClickHouse's escaped text form. clickhouse-connect writes a
    value of a type it does not know as ``str(value)``, so this text reaches the server's
    ``param_<name>`` field exactly as chdb gets it (a ``str`` would be escaped once more)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class ServerConnection:
    """A ClickHouse server through clickhouse-connect (HTTP or HTTPS)."""

    def __init__(self, address: ServerAddress) -> None:
        try:
            import clickhouse_connect
        except ImportError:
            raise ClickHouseError(
                f"{address}: clickhouse-connect is not installed; "
                "pip install 'funnelscope[clickhouse]'"
            ) from None
        self.address = address
        self.database = address.database
        self.where = str(address)
        try:
            self._client = clickhouse_connect.get_client(
                host=address.host,
                port=address.port,
                username=address.username,
                password=address.password,
                database="default",  # the store's database may not exist yet
                secure=address.secure,
                verify=address.verify,
                ca_cert=address.ca_cert,
                connect_timeout=address.connect_timeout,
                send_receive_timeout=address.send_receive_timeout,
                settings=dict(address.settings),
                compress=False,
                autogenerate_session_id=False,
            )
        except Exception as exc:  # clickhouse-connect raises its own, and urllib3's
            raise ClickHouseError(f"{self.where}: cannot connect: {self._clean(exc)}") from None

    def _clean(self, exc: BaseException) -> str:
        """The error's first line, without the password should a library have echoed it."""
        text = _first_line(exc)
        if self.address.password:
            text = text.replace(self.address.password, "***")
        return text

    def _params(self, params: Mapping[str, str] | None) -> dict[str, Any]:
        return {name: _Escaped(value) for name, value in (params or {}).items()}

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> pa.Table:
        try:
            result: pa.Table = self._client.query_arrow(sql, parameters=self._params(params))
        except Exception as exc:
            raise ClickHouseError(f"{self.where}: {self._clean(exc)}") from None
        return result

    def command(self, sql: str, params: Mapping[str, str] | None = None) -> None:
        try:
            self._client.command(sql, parameters=self._params(params))
        except Exception as exc:
            raise ClickHouseError(f"{self.where}: {self._clean(exc)}") from None

    def insert_arrow(self, table: str, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        try:
            self._client.insert_arrow(table, rows, database=self.database)
        except Exception as exc:
            raise ClickHouseError(f"{self.where}: {self._clean(exc)}") from None

    def close(self) -> None:
        self._client.close()


def connect(db: str) -> Connection:
    """The connection `db` names (see the module's docstring)."""
    if db.startswith("chdb:"):
        path = db.removeprefix("chdb:")
        if not path:
            raise ClickHouseError(f"{db}: name the directory of the embedded store: chdb:PATH")
        return ChdbConnection(os.path.abspath(path))
    return ServerConnection(parse_url(db))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

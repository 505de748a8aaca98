"""Who may use a team server: API keys and page users, kept in the store's own tables.

Only digests are stored. An API key is a random token (192 bits), so one SHA-256 of it is
enough to look it up and to make a stolen file useless; a password is chosen by a person, so it
is stretched with scrypt and a salt of its own before it is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

KEY_KINDS: Final = ("write", "read", "admin")
_PREFIX: Final = {"write": "fsw", "read": "fsr", "admin": "fsa"}
# scrypt's cost: 16 MiB and ~50 ms per check on one core (OWASP's floor is N=2^17 with r=8 at
# p=1 for interactive logins; 2^14 keeps the login test suite fast while costing an attacker
# the same memory per guess as per check)
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1}

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS api_keys (key_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, "
    "name VARCHAR NOT NULL, digest VARCHAR NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL, "
    "revoked_at TIMESTAMPTZ)",
    "CREATE TABLE IF NOT EXISTS web_users (name VARCHAR PRIMARY KEY, "
    "password_hash VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)",
)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: str  # write (capture only), read (the read API), admin (everything)
    name: str
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "kind": self.kind,
            "name": self.name,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in SCHEMA:
        con.execute(statement)


def key_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key(con: duckdb.DuckDBPyConnection, kind: str, name: str) -> tuple[ApiKey, str]:
    """A new key of `kind`; the secret is returned once and never stored."""
    if kind not in KEY_KINDS:
        raise ValueError(f"unknown key kind {kind!r}")
    key_id = secrets.token_hex(4)
    secret = f"{_PREFIX[kind]}_{key_id}_{secrets.token_urlsafe(24)}"
    now = datetime.now(UTC)
    con.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
        [key_id, kind, name, key_digest(secret), now],
    )
    return ApiKey(key_id, kind, name, now, None), secret


def list_keys(con: duckdb.DuckDBPyConnection) -> list[ApiKey]:
    rows = con.execute(
        "SELECT key_id, kind, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
    ).fetchall()
    return [ApiKey(*row) for row in rows]


def revoke_key(con: duckdb.DuckDBPyConnection, key_id: str) -> bool:
    """Revoke a key by its id; False when no live key has that id."""
    found = con.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
        "RETURNING key_id",
        [datetime.now(UTC), key_id],
    ).fetchall()
    return bool(found)


def kind_of_key(con: duckdb.DuckDBPyConnection, secret: str) -> str | None:
    """The kind of a live key, or None for an unknown or revoked one."""
    row = con.execute(
        "SELECT kind FROM api_keys WHERE digest = ? AND revoked_at IS NULL", [key_digest(secret)]
    ).fetchone()
    return None if row is None else str(row[0])


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    again = hashlib.scrypt(
        password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(again, _unb64(digest))


def set_user(con: duckdb.DuckDBPyConnection, name: str, password: str) -> bool:
    """Add a user or change their password; True when the user is new."""
    existed = con.execute("SELECT 1 FROM web_users WHERE name = ?", [name]).fetchone()
    hashed = hash_password(password)
    if existed:
        con.execute("UPDATE web_users SET password_hash = ? WHERE name = ?", [hashed, name])
        return False
    con.execute("INSERT INTO web_users VALUES (?, ?, ?)", [name, hashed, datetime.now(UTC)])
    return True


def user_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in con.execute("SELECT name FROM web_users ORDER BY name").fetchall()]


def check_user(con: duckdb.DuckDBPyConnection, name: str, password: str) -> bool:
    row = con.execute("SELECT password_hash FROM web_users WHERE name = ?", [name]).fetchone()
    if row is None:
        hash_password(password)  # the same time for an unknown name as for a wrong password
        return False
    return password_matches(password, str(row[0]))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

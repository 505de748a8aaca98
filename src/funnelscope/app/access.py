"""Use cases of access to a team server: API keys and page users (kept in the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from funnelscope.app.events import open_store
from funnelscope.errors import FunnelscopeError

if TYPE_CHECKING:
    from funnelscope.store.access import ApiKey


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once: only its digest is kept


def create_key(db_path: str, kind: str, name: str) -> NewKey:
    from funnelscope.store.access import KEY_KINDS, new_key

    if kind not in KEY_KINDS:
        raise FunnelscopeError(f"--kind {kind!r}: choose one of {', '.join(KEY_KINDS)}")
    if not name.strip():
        raise FunnelscopeError("--name is empty: name the key after who uses it, e.g. website")
    with open_store(db_path, read_only=False) as store:
        key, secret = new_key(store.connection, kind, name.strip())
    return NewKey(key, secret)


def list_keys(db_path: str) -> list[ApiKey]:
    from funnelscope.store.access import list_keys as listed

    with open_store(db_path, read_only=False) as store:
        return listed(store.connection)


def revoke_key(db_path: str, key_id: str) -> None:
    from funnelscope.store.access import revoke_key as revoke

    with open_store(db_path, read_only=False) as store:
        if not revoke(store.connection, key_id):
            raise FunnelscopeError(
                f"no live key with id {key_id!r}; `funnelscope keys list` shows the ids"
            )


def key_kind(db_path: str, secret: str) -> str | None:
    """The kind of a live key (write, read or admin), None for anything else."""
    from funnelscope.store.access import kind_of_key

    # read-only: no schema upgrade per request (the server upgraded the store when it started)
    with open_store(db_path) as store:
        return kind_of_key(store.connection, secret)


def set_user(db_path: str, name: str, password: str) -> bool:
    """Add a page user (or change their password); True when the user is new."""
    from funnelscope.store.access import set_user as store_user

    if not name.strip():
        raise FunnelscopeError("the user name is empty")
    if len(password) < 8:
        raise FunnelscopeError("the password is shorter than 8 characters; choose a longer one")
    with open_store(db_path, read_only=False) as store:
        return store_user(store.connection, name.strip(), password)


def users(db_path: str) -> list[str]:
    from funnelscope.store.access import user_names

    with open_store(db_path, read_only=False) as store:
        return user_names(store.connection)


def login_ok(db_path: str, name: str, password: str) -> bool:
    from funnelscope.store.access import check_user

    with open_store(db_path) as store:
        return check_user(store.connection, name, password)

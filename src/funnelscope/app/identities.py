"""Use cases of identities: see who was merged with whom, unmerge, merge by hand, load a mapping.

Each opens the store, does one job and returns values (store/identities.py holds the tables,
model/identities.py the rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelscope.app.events import open_store

if TYPE_CHECKING:
    from funnelscope.store.identities import (
        IdentityChange,
        IdentityMapLoad,
        IdentityOverview,
        PersonIdentity,
    )


def identity_overview(db_path: str) -> IdentityOverview:
    """How many ids were merged into how many persons, the largest persons and links set aside."""
    with open_store(db_path, read_only=False) as store:
        return store.identities()


def person_identity(db_path: str, member: str) -> PersonIdentity:
    """The person an id belongs to, with every id and link of that person."""
    with open_store(db_path, read_only=False) as store:
        return store.identity(member)


def unmerge(db_path: str, member: str) -> IdentityChange:
    """Set an id apart from its person (and the ids merged into it apart from it)."""
    with open_store(db_path, read_only=False) as store:
        return store.unmerge(member)


def rejoin(db_path: str, member: str) -> IdentityChange:
    """Undo an unmerge."""
    with open_store(db_path, read_only=False) as store:
        return store.rejoin(member)


def merge(db_path: str, member: str, into: str) -> IdentityChange:
    """Record by hand that an id belongs to another id's person."""
    with open_store(db_path, read_only=False) as store:
        return store.merge(member, into)


def load_identity_map(db_path: str, path: str) -> IdentityMapLoad:
    """Load a mapping file of id -> person links."""
    with open_store(db_path, read_only=False) as store:
        return store.load_identity_map(path)

"""The identity rule: which person each id (device, anonymous or known) belongs to.

Pure Python over the recorded links, so the store, a test or another engine resolve them alike.
The rule is written out, sentence by sentence, in docs/semantics.md ("Identities", [I1]-[I7]).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

# Link kinds. What the user stated (by hand, in a mapping file) is taken before what tracking
# calls said; those (alias and identify) are taken in the order they happened.
MANUAL: Final = "manual"  # funnelscope identities --merge
MAPPING: Final = "mapping"  # a mapping file (funnelscope identities --load)
ALIAS: Final = "alias"  # Segment alias, PostHog $create_alias / $merge_dangerously
IDENTIFY: Final = "identify"  # an anonymous/device id seen with a known id
KINDS: Final = (MANUAL, MAPPING, ALIAS, IDENTIFY)
_RANK: Final = {MANUAL: 0, MAPPING: 1, ALIAS: 2, IDENTIFY: 2}


@dataclass(frozen=True)
class Link:
    """`from_id` belongs to the person of `to_id`, as one source said at time `at_us`."""

    from_id: str
    to_id: str
    kind: str
    at_us: int  # when it was said (the event's time; a mapping file's load time)
    source: str = ""


@dataclass(frozen=True)
class Rejected:
    link: Link
    reason: str


@dataclass(frozen=True)
class Resolution:
    """Each merged id's person (ids not listed are their own person) and the links set aside."""

    person_of: dict[str, str]
    accepted: tuple[Link, ...]
    rejected: tuple[Rejected, ...]

    def persons(self) -> dict[str, list[str]]:
        """Person -> its ids (the person's own id first, then the others sorted)."""
        members: dict[str, list[str]] = {}
        for member, person in self.person_of.items():
            members.setdefault(person, []).append(member)
        return {p: [p, *sorted(ids)] for p, ids in sorted(members.items())}


def _order(link: Link) -> tuple[int, int, str, str]:
    return (_RANK[link.kind], link.at_us, link.from_id, link.to_id)


def resolve(links: Iterable[Link], apart: Collection[str] = ()) -> Resolution:
    """Resolve links into persons by the identity rule.

    Manual links are taken first, then mapping links, then alias and identify links together;
    each group earliest first, then by id text, so the result does not depend on the order in
    which files were loaded. Each id follows at most one link (the first
    taken); an implied (identify) link never moves a known id, that is one that some identify link
    points to; a link that would close a loop is set aside; ids in `apart` (unmerged) ignore every
    link from or to them. A person is named by the id at the end of its chain of links.
    """
    pool = [link for link in links if link.from_id != link.to_id]
    known = {link.to_id for link in pool if link.kind == IDENTIFY}
    parent: dict[str, str] = {}
    accepted: list[Link] = []
    rejected: list[Rejected] = []
    for link in sorted(pool, key=_order):
        reason = _refusal(link, parent, known, apart)
        if reason is not None:
            rejected.append(Rejected(link, reason))
            continue
        parent[link.from_id] = link.to_id
        accepted.append(link)
    person_of = {member: _root(member, parent) for member in parent}
    return Resolution(person_of, tuple(accepted), tuple(rejected))


def _refusal(
    link: Link, parent: dict[str, str], known: set[str], apart: Collection[str]
) -> str | None:
    if link.from_id in apart or link.to_id in apart:
        unmerged = link.from_id if link.from_id in apart else link.to_id
        return f"{unmerged} was unmerged"
    if link.from_id in parent:
        return f"{link.from_id} already belongs to {_root(link.from_id, parent)}"
    if link.kind == IDENTIFY and link.from_id in known:
        return f"{link.from_id} is a known id; known ids merge only by alias or a mapping"
    if _root(link.to_id, parent) == link.from_id:
        return f"{link.to_id} already belongs to {link.from_id} (a loop)"
    return None


def _root(member: str, parent: dict[str, str]) -> str:
    while member in parent:
        member = parent[member]
    return member

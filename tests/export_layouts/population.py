"""The shop's population and what each person did, independent of any export layout.

A seeded model of about 3,000 people over four weeks: each has one or two devices, browses
anonymously, and may have an account they sign in to on one or both devices (the sign-in stays
on that device). Carts follow the account, so a person can add to cart on the phone and buy on
the laptop; a few devices are borrowed by a second account holder for one session (a shared
family laptop). Every session has a traffic source. Acts happen at distinct whole seconds across
the whole population (so no two acts of anyone tie, even at Mixpanel's one-second precision) plus
a sub-second part that the layouts with finer precision keep.

The layouts (ga4.py, posthog.py, ...) turn these acts into rows of their own shape; truth.py
computes the expected funnel from those rows by the identity rule, never by running funnelscope.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, TypeVar

T = TypeVar("T")

START: Final = datetime(2024, 3, 4, tzinfo=UTC)
START_S: Final = int(START.timestamp())
DAYS: Final = 28
DAY: Final = 86_400


@dataclass(frozen=True)
class Source:
    """A session's traffic source; `source` None is direct traffic (no campaign parameters)."""

    source: str | None
    medium: str | None
    campaign: str | None


SOURCES: Final = (
    (Source("google", "cpc", "spring_sale"), 22),
    (Source("google", "organic", None), 20),
    (Source(None, None, None), 18),
    (Source("newsletter", "email", "weekly_picks"), 12),
    (Source("facebook", "paid_social", "spring_sale"), 10),
    (Source("instagram", "social", None), 8),
    (Source("bing", "cpc", "brand"), 5),
    (Source("partner_blog", "referral", None), 5),
)

COUNTRIES: Final = (("DE", 30), ("US", 25), ("FR", 15), ("GB", 15), ("NL", 10), ("AT", 5))
PLANS: Final = ("free", "plus", "pro")


@dataclass(frozen=True)
class Item:
    item_id: str
    name: str
    category: str
    brand: str
    price: float


CATALOG: Final = tuple(
    Item(f"SKU-{1000 + n}", f"{adj} {noun}", category, brand, price)
    for n, (adj, noun, category, brand, price) in enumerate(
        (
            ("Trail", "Running Shoe", "shoes", "Northpeak", 89.0),
            ("Road", "Running Shoe", "shoes", "Northpeak", 119.0),
            ("Merino", "Base Layer", "apparel", "Woolcraft", 64.5),
            ("Rain", "Shell Jacket", "apparel", "Stormline", 149.0),
            ("Insulated", "Bottle", "gear", "Hydrava", 24.9),
            ("Headlamp", "400", "gear", "Lumo", 39.99),
            ("Trekking", "Poles", "gear", "Northpeak", 79.0),
            ("Daypack", "22L", "bags", "Packwell", 69.0),
            ("Compression", "Socks", "apparel", "Woolcraft", 19.5),
            ("Camp", "Stove", "gear", "Emberline", 54.0),
            ("Down", "Vest", "apparel", "Stormline", 129.0),
            ("Approach", "Shoe", "shoes", "Cragmont", 139.0),
        )
    )
)


@dataclass(frozen=True)
class Device:
    index: int
    owner: int  # person index
    kind: str  # web_desktop, web_mobile, ios_app, android_app
    country: str
    first_seen_s: int


@dataclass(frozen=True)
class Session:
    index: int
    person: int
    device: int
    start_s: int
    source: Source


@dataclass(frozen=True)
class Act:
    """One thing a person did. `user` is the account signed in on the device at that moment (the
    row carries it); `kind` is page, view_item, add_to_cart, purchase or login."""

    seq: int
    person: int
    device: int
    session: int
    second: int  # whole seconds since the epoch; unique over the population
    micro: int  # 0..999_999
    kind: str
    user: str | None
    item: Item | None = None
    page: str | None = None
    plan: str | None = None  # login: the plan the account has from now on
    order_id: str | None = None
    server_side: bool = False  # purchase confirmed by the shop's backend

    @property
    def time_us(self) -> int:
        return self.second * 1_000_000 + self.micro


@dataclass
class Person:
    index: int
    user_id: str | None
    devices: list[int] = field(default_factory=list)
    email: str | None = None
    server_side_orders: bool = False


@dataclass
class Population:
    persons: list[Person]
    devices: list[Device]
    sessions: list[Session]
    acts: list[Act]  # sorted by time

    def device(self, act: Act) -> Device:
        return self.devices[act.device]


class _Clock:
    """Hands out distinct whole seconds: a wanted second already taken moves to the next free."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def free(self, second: int) -> int:
        while second in self.used:
            second += 1
        return second

    def take(self, second: int) -> int:
        second = self.free(second)
        self.used.add(second)
        return second


def _pick(rng: random.Random, weighted: tuple[tuple[T, int], ...]) -> T:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


PAGES: Final = ("home", "category/shoes", "category/apparel", "category/gear", "sale", "search")


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = _Clock()
        self.persons: list[Person] = []
        self.devices: list[Device] = []
        self.sessions: list[Session] = []
        self.acts: list[Act] = []
        self.signed_in: dict[tuple[int, int], bool] = {}  # (person, device) -> signed in
        self.plan: dict[int, str] = {}
        self.cart: dict[int, set[int]] = {}  # person -> devices holding cart items

    def new_device(self, person: int, kind: str, first_s: int) -> int:
        country = _pick(self.rng, COUNTRIES)
        device = Device(len(self.devices), person, kind, country, first_s)
        self.devices.append(device)
        return device.index

    def act(
        self,
        session: Session,
        second: int,
        kind: str,
        user: str | None,
        *,
        item: Item | None = None,
        page: str | None = None,
        plan: str | None = None,
        order_id: str | None = None,
        server_side: bool = False,
    ) -> int:
        taken = self.clock.take(second)
        micro = self.rng.randrange(1_000_000)
        self.acts.append(
            Act(
                len(self.acts),
                session.person,
                session.device,
                session.index,
                taken,
                micro,
                kind,
                user,
                item,
                page,
                plan,
                order_id,
                server_side,
            )
        )
        return taken

    def login(self, person: Person, session: Session, second: int) -> int:
        assert person.user_id is not None
        if person.index not in self.plan:
            self.plan[person.index] = self.rng.choices(PLANS, (60, 30, 10))[0]
        elif self.rng.random() < 0.2:  # upgraded (or downgraded) since the last sign-in
            self.plan[person.index] = self.rng.choice(
                [p for p in PLANS if p != self.plan[person.index]]
            )
        self.signed_in[(person.index, session.device)] = True
        return self.act(session, second, "login", person.user_id, plan=self.plan[person.index])

    def run_session(self, person: Person, session: Session, *, borrowed: bool = False) -> int:
        """The acts of one visit; returns the second of its last act."""
        rng = self.rng
        key = (person.index, session.device)
        user = person.user_id if self.signed_in.get(key) else None
        if borrowed:
            user = None
        t = session.start_s
        if rng.random() < 0.4:  # landed on a product page (an ad or a shared link)
            views = _pick(rng, ((1, 60), (2, 28), (3, 12)))
        else:
            t = self.act(session, t, "page", user, page=rng.choice(PAGES))
            views = _pick(rng, ((0, 50), (1, 33), (2, 12), (3, 5)))
        if borrowed or (person.user_id and user is None and rng.random() < 0.3):
            t = self.login(person, session, t + rng.randint(5, 90))
            user = person.user_id
        for view in range(views):
            item = rng.choice(CATALOG)
            wait = 0 if view == 0 and t == session.start_s else rng.randint(15, 400)
            t = self.act(session, t + wait, "view_item", user, item=item)
            if rng.random() < 0.3:
                t = self.act(session, t + rng.randint(10, 240), "add_to_cart", user, item=item)
                self.cart.setdefault(person.index, set()).add(session.device)
        holding = self.cart.get(person.index, set())
        reachable = session.device in holding or (person.user_id is not None and bool(holding))
        synced = session.device not in holding  # the cart was filled on another device
        if reachable and rng.random() < (0.75 if synced else 0.5):
            if person.user_id is not None and user is None:
                t = self.login(person, session, t + rng.randint(20, 200))
                user = person.user_id
            if rng.random() < 0.2:  # browsed a bit more before checking out
                t = self.act(session, t + rng.randint(20, 300), "page", user, page="cart")
            t = self.act(
                session,
                t + rng.randint(60, 900),
                "purchase",
                user,
                item=rng.choice(CATALOG),
                order_id=f"ORD-{len(self.acts):06d}",
                server_side=person.server_side_orders and user is not None,
            )
            self.cart[person.index] = set()
        return t

    def new_session(self, person: int, device: int, start_s: int) -> Session:
        source = _pick(self.rng, SOURCES)
        # the session's first act takes this second
        session = Session(len(self.sessions), person, device, self.clock.free(start_s), source)
        self.sessions.append(session)
        return session


def build_population(seed: int, people: int = 3000) -> Population:
    """The same seed gives the same population, act for act."""
    rng = random.Random(seed)
    b = _Builder(rng)
    span = DAYS * DAY
    for index in range(people):
        two = rng.random() < 0.35
        account = rng.random() < (0.8 if two else 0.5)
        person = Person(index, f"u{10000 + index * 7 + rng.randrange(7)}" if account else None)
        if person.user_id:
            person.email = f"{person.user_id}@mail.example"
            person.server_side_orders = rng.random() < 0.5
        b.persons.append(person)
        sessions = _pick(rng, ((1, 66), (2, 21), (3, 9), (4, 3), (5, 1)))
        if two:
            sessions = max(sessions, 2)
        t = START_S + rng.randrange(span - 2 * DAY)
        kinds = ["web_desktop", "web_mobile", "ios_app", "android_app"]
        first_kind = _pick(rng, ((kinds[0], 45), (kinds[1], 40), (kinds[2], 8), (kinds[3], 7)))
        person.devices.append(b.new_device(index, first_kind, t))
        if two:
            other = "web_desktop" if first_kind != "web_desktop" else "web_mobile"
            person.devices.append(b.new_device(index, other, t))
        for s in range(sessions):
            if s == 0:
                device = person.devices[0]
            elif two and (s == 1 or rng.random() < 0.5):
                device = person.devices[1]
            else:
                device = person.devices[0]
            end = b.run_session(person, b.new_session(index, device, t))
            gap = int(rng.expovariate(1 / (2.5 * DAY))) + rng.randint(1800, 7200)
            t = end + gap
            if t >= START_S + span:
                break
    _borrow_devices(b, rng, span)
    b.acts.sort(key=lambda a: a.second)
    return Population(b.persons, b.devices, b.sessions, b.acts)


def _borrow_devices(b: _Builder, rng: random.Random, span: int) -> None:
    """A few account holders use another person's device for one session and sign in there."""
    holders = [p for p in b.persons if p.user_id is not None]
    borrowers = rng.sample(holders, 30)
    for borrower in borrowers:
        lender = rng.choice([p for p in b.persons if p.index != borrower.index])
        device = lender.devices[0]
        start = START_S + rng.randrange(span - DAY)
        session = b.new_session(borrower.index, device, start)
        b.run_session(borrower, session, borrowed=True)
        b.signed_in[(borrower.index, device)] = False  # signed out again afterwards

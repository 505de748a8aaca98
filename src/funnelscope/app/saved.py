"""Use cases of saved funnels and dashboards (kept in the store: store/saved.py).

A saved funnel is checked when it is saved: its spec must parse as a funnel spec does and its
options must be the funnel options the read API takes, so what is kept can always be run.
Missing ids give None (or False); the face says 404. The tables are made when a store is opened
for writing (the server does at its start), so reads open the store read-only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from funnelscope.app.events import open_store
from funnelscope.errors import FunnelscopeError, SpecError, shown

if TYPE_CHECKING:
    from funnelscope.app.timing import TimedRun, TimingRequest
    from funnelscope.store.saved import Dashboard, DashboardItem, SavedFunnel

MAX_NAME: Final = 200
MAX_ITEMS: Final = 100
CHART_KINDS: Final = ("steps", "breakdown", "trend", "time_to_convert", "table")
"""How a dashboard shows a funnel: its steps as bars, by breakdown value, its trend, its time
to convert, or as a table."""

_TIMING_KEYS: Final = (
    "time_to_convert",
    "time_from",
    "time_to",
    "bins",
    "trend",
    "trend_timezone",
    "segments",
    "min_n",
    "correction",
    "alpha",
)
OPTION_KEYS: Final = ("engine", "from", "to", *_TIMING_KEYS)
"""What a saved funnel may keep beside its spec: the read API's funnel options."""


@dataclass(frozen=True)
class FunnelOptions:
    """A saved funnel's options, checked: the engine, the date ends and the extras."""

    engine: str
    date_from: str | None
    date_to: str | None
    timing: TimingRequest


def funnel_options(raw: Mapping[str, Any]) -> FunnelOptions:
    """The options of a saved funnel from their JSON; errors name the key and the fix."""
    from funnelscope.app.timing import TimingRequest
    from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES

    if not isinstance(raw, Mapping):
        raise SpecError("options", "is not a mapping", 'write e.g. {"trend": "week"}')
    unknown = [key for key in raw if key not in OPTION_KEYS]
    if unknown:
        raise SpecError(
            f"options.{shown(unknown[0], quote=False)}", "unknown", f"use {', '.join(OPTION_KEYS)}"
        )
    engine = raw.get("engine", DEFAULT_ENGINE)
    if engine not in ENGINE_NAMES:
        raise SpecError("options.engine", shown(engine), f"use {', '.join(ENGINE_NAMES)}")
    dates = [_text(raw, key) for key in ("from", "to")]
    values: dict[str, Any] = {}
    for key in ("time_to_convert", "segments"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise SpecError(f"options.{key}", shown(raw[key]), "use true or false")
            values[key] = raw[key]
    for key, low, high in (("time_from", 1, None), ("time_to", 1, None), ("bins", 1, 90)):
        if raw.get(key) is not None:
            values[key] = _whole(raw[key], key, low, high)
    if "min_n" in raw:
        values["min_n"] = _whole(raw["min_n"], "min_n", 1, None)
    for key, choices in (("trend", ("day", "week", "month")), ("correction", ("bh", "holm"))):
        if raw.get(key) is not None:
            if raw[key] not in choices:
                raise SpecError(f"options.{key}", shown(raw[key]), f"use {', '.join(choices)}")
            values[key] = raw[key]
    values["trend_timezone"] = _text(raw, "trend_timezone")
    if "alpha" in raw:
        alpha = raw["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise SpecError("options.alpha", shown(alpha), "use a number between 0 and 1")
        values["alpha"] = float(alpha)
    needs = {
        "time_to_convert": ("time_from", "time_to", "bins"),
        "trend": ("trend_timezone",),
        "segments": ("min_n", "correction", "alpha"),
    }
    for feature, keys in needs.items():
        for key in keys:
            if raw.get(key) is not None and not raw.get(feature):
                raise SpecError(f"options.{key}", f"only applies with {feature}", f"set {feature}")
    return FunnelOptions(engine, dates[0], dates[1], TimingRequest(**values))


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise SpecError(f"options.{key}", shown(value), "give it as text")
    return value


def _whole(value: Any, key: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"options.{key}", shown(value), f"use a whole number from {low}")
    if high is not None and value > high:
        raise SpecError(f"options.{key}", shown(value), f"use a whole number up to {high}")
    return value


def _name(name: str, what: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise SpecError("name", f"{what} names are 1 to {MAX_NAME} characters", "e.g. Checkout")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise SpecError("name", f"{shown(cleaned)} has control characters", "use plain text")
    return cleaned


def _checked_funnel(spec: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Raise what running the saved funnel would raise for its spec and options."""
    from funnelscope.app.timing import check_request
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import parse_funnel

    parsed = funnel_options(options)
    funnel = with_overrides(parse_funnel(spec), date_from=parsed.date_from, date_to=parsed.date_to)
    check_request(funnel, parsed.timing)


# ------------------------------------------------------------------------------ saved funnels


def save_funnel(
    db_path: str, name: str, spec: dict[str, Any], options: dict[str, Any]
) -> SavedFunnel:
    from funnelscope.store.saved import insert_funnel

    name = _name(name, "funnel")
    _checked_funnel(spec, options)
    with open_store(db_path, read_only=False) as store:
        return insert_funnel(store.connection, name, spec, options)


def saved_funnels(db_path: str) -> list[SavedFunnel]:
    from funnelscope.store.saved import list_funnels

    with open_store(db_path) as store:
        return list_funnels(store.connection)


def saved_funnel(db_path: str, funnel_id: int) -> SavedFunnel | None:
    from funnelscope.store.saved import get_funnel

    with open_store(db_path) as store:
        return get_funnel(store.connection, funnel_id)


def change_funnel(
    db_path: str, funnel_id: int, name: str, spec: dict[str, Any], options: dict[str, Any]
) -> SavedFunnel | None:
    from funnelscope.store.saved import update_funnel

    name = _name(name, "funnel")
    _checked_funnel(spec, options)
    with open_store(db_path, read_only=False) as store:
        return update_funnel(store.connection, funnel_id, name, spec, options)


def delete_funnel(db_path: str, funnel_id: int) -> bool:
    """Delete a saved funnel; one that a dashboard shows is refused (naming the dashboards)."""
    from funnelscope.store.saved import delete_funnel as deleted
    from funnelscope.store.saved import list_dashboards

    with open_store(db_path, read_only=False) as store:
        using = [
            d.name
            for d in list_dashboards(store.connection)
            if any(item.funnel_id == funnel_id for item in d.items)
        ]
        if using:
            raise FunnelscopeError(
                f"saved funnel {funnel_id} is on the dashboards {', '.join(map(shown, using))}; "
                "take it off them first"
            )
        return deleted(store.connection, funnel_id)


def run_saved_funnel(db_path: str, funnel_id: int) -> TimedRun | None:
    """Compute a saved funnel over the store with its options (as the read API's funnel)."""
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.timing import compute_timed_funnel
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import parse_funnel

    saved = saved_funnel(db_path, funnel_id)
    if saved is None:
        return None
    options = funnel_options(saved.options)
    funnel = with_overrides(
        parse_funnel(saved.spec), date_from=options.date_from, date_to=options.date_to
    )
    return compute_timed_funnel(funnel, EventInput(db_path), options.timing, options.engine)


# ---------------------------------------------------------------------------------- dashboards


def _items(db_path: str, items: list[tuple[int, str]]) -> tuple[DashboardItem, ...]:
    from funnelscope.store.saved import DashboardItem, existing_funnel_ids

    if len(items) > MAX_ITEMS:
        raise SpecError("items", f"{len(items)} items", f"a dashboard shows at most {MAX_ITEMS}")
    for index, (_, chart) in enumerate(items):
        if chart not in CHART_KINDS:
            raise SpecError(f"items[{index}].chart", shown(chart), f"use {', '.join(CHART_KINDS)}")
    with open_store(db_path) as store:
        found = existing_funnel_ids(store.connection, [funnel_id for funnel_id, _ in items])
    for index, (funnel_id, _) in enumerate(items):
        if funnel_id not in found:
            raise SpecError(
                f"items[{index}].funnel_id", f"no saved funnel has id {funnel_id}", "save it first"
            )
    return tuple(DashboardItem(funnel_id, chart) for funnel_id, chart in items)


def save_dashboard(db_path: str, name: str, items: list[tuple[int, str]]) -> Dashboard:
    from funnelscope.store.saved import insert_dashboard

    name = _name(name, "dashboard")
    checked = _items(db_path, items)
    with open_store(db_path, read_only=False) as store:
        return insert_dashboard(store.connection, name, checked)


def dashboards(db_path: str) -> list[Dashboard]:
    from funnelscope.store.saved import list_dashboards

    with open_store(db_path) as store:
        return list_dashboards(store.connection)


def dashboard(db_path: str, dashboard_id: int) -> Dashboard | None:
    from funnelscope.store.saved import get_dashboard

    with open_store(db_path) as store:
        return get_dashboard(store.connection, dashboard_id)


def change_dashboard(
    db_path: str, dashboard_id: int, name: str, items: list[tuple[int, str]]
) -> Dashboard | None:
    from funnelscope.store.saved import update_dashboard

    name = _name(name, "dashboard")
    checked = _items(db_path, items)
    with open_store(db_path, read_only=False) as store:
        return update_dashboard(store.connection, dashboard_id, name, checked)


def delete_dashboard(db_path: str, dashboard_id: int) -> bool:
    from funnelscope.store.saved import delete_dashboard as deleted

    with open_store(db_path, read_only=False) as store:
        return deleted(store.connection, dashboard_id)

"""Declarative test journeys: persons -> [(event, time, {props})] -> the table engines consume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

Journey = list[tuple[Any, ...]]


def to_us(text: str) -> int:
    """'2024-01-01 10:00[:ss[.ffffff]]' (UTC) -> microseconds since the epoch."""
    stamp = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(stamp.timestamp()) * 1_000_000 + stamp.microsecond


def journeys(people: dict[str, Journey]) -> pa.Table:
    """Events in the engine's scan format: items are (event, time[, props[, event_id]]).

    Without an explicit id, ids follow the listed order, so listed order decides ties.
    """
    rows: list[dict[str, Any]] = []
    for person, events in people.items():
        for index, item in enumerate(events):
            event, time = item[0], item[1]
            props = item[2] if len(item) > 2 else {}
            event_id = item[3] if len(item) > 3 else f"{person}:{index:04d}"
            rows.append(
                {
                    "person_id": person,
                    "event_id": event_id,
                    "event": event,
                    "ts": to_us(time),
                    **props,
                }
            )
    names = ["person_id", "event_id", "event", "ts"]
    extra = sorted({k for row in rows for k in row} - set(names))
    columns = {name: [row.get(name) for row in rows] for name in names + extra}
    table = pa.table(
        {k: pa.array(v, type=pa.int64() if k == "ts" else None) for k, v in columns.items()}
    )
    return table


def instant(second: int, form: int = 0) -> str:
    """BASE_US + `second` as ISO text: in UTC (``Z``), at +01:00, or without an offset (read
    in the range's zone, UTC unless it says otherwise)."""
    minutes, seconds = divmod(second, 60)
    if form == 1:
        return f"2024-01-01T01:{minutes:02d}:{seconds:02d}+01:00"
    if form == 2:
        return f"2024-01-01 00:{minutes:02d}:{seconds:02d}"
    return f"2024-01-01T00:{minutes:02d}:{seconds:02d}Z"


@st.composite
def date_ranges(draw: st.DrawFn, last_second: int = 15) -> dict[str, Any]:
    """A random date range over the journeys' seconds (either end open), now and then whole
    days in a zone (which hold every event, or none)."""
    if draw(st.integers(0, 5)) == 0:
        return draw(
            st.sampled_from(
                [
                    {"from": "2024-01-01"},
                    {"to": "2023-12-31"},
                    {"from": "2024-01-01", "to": "2024-01-01", "timezone": "Europe/Berlin"},
                    {"to": "2023-12-31", "timezone": "America/New_York"},
                ]
            )
        )
    start = draw(st.one_of(st.none(), st.integers(0, last_second)))
    end = draw(st.one_of(st.none(), st.integers(start or 0, last_second)))
    out: dict[str, Any] = {}
    if start is not None:
        out["from"] = instant(start, draw(st.integers(0, 2)))
    if end is not None or start is None:
        out["to"] = instant(last_second if end is None else end, draw(st.integers(0, 2)))
    return out

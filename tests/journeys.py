"""Declarative test journeys: persons -> [(event, time, {props})] -> the table engines consume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

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

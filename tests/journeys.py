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
    """Events in the engine's scan format. Ids keep the listed order among equal timestamps."""
    rows: list[dict[str, Any]] = []
    for person, events in people.items():
        for index, item in enumerate(events):
            event, time = item[0], item[1]
            props = item[2] if len(item) > 2 else {}
            rows.append(
                {
                    "person_id": person,
                    "event_id": f"{person}:{index:04d}",
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

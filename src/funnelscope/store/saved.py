"""Saved funnels and dashboards of the team server, kept in the store's own tables.

A saved funnel is a name, a funnel spec and the options the spec does not hold (``from``/``to``,
the extras), both as JSON text exactly as they were accepted; a dashboard is a name and an
ordered list of saved funnel ids, each with a chart kind. Values are always parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

SCHEMA: Final = (
    "CREATE SEQUENCE IF NOT EXISTS saved_funnel_ids START 1",
    "CREATE TABLE IF NOT EXISTS saved_funnels (funnel_id BIGINT PRIMARY KEY, "
    "name VARCHAR NOT NULL, spec VARCHAR NOT NULL, options VARCHAR NOT NULL, "
    "created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS dashboard_ids START 1",
    "CREATE TABLE IF NOT EXISTS dashboards (dashboard_id BIGINT PRIMARY KEY, "
    "name VARCHAR NOT NULL, items VARCHAR NOT NULL, "
    "created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
)


@dataclass(frozen=True)
class SavedFunnel:
    funnel_id: int
    name: str
    spec: dict[str, Any]
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.funnel_id,
            "name": self.name,
            "spec": self.spec,
            "options": self.options,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "updated_at": self.updated_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class DashboardItem:
    funnel_id: int
    chart: str

    def to_dict(self) -> dict[str, Any]:
        return {"funnel_id": self.funnel_id, "chart": self.chart}


@dataclass(frozen=True)
class Dashboard:
    dashboard_id: int
    name: str
    items: tuple[DashboardItem, ...]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.dashboard_id,
            "name": self.name,
            "items": [item.to_dict() for item in self.items],
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "updated_at": self.updated_at.isoformat(timespec="seconds"),
        }


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in SCHEMA:
        con.execute(statement)


# ------------------------------------------------------------------------------ saved funnels

_FUNNEL_COLUMNS: Final = "funnel_id, name, spec, options, created_at, updated_at"


def insert_funnel(
    con: duckdb.DuckDBPyConnection, name: str, spec: dict[str, Any], options: dict[str, Any]
) -> SavedFunnel:
    now = datetime.now(UTC)
    row = con.execute(
        f"INSERT INTO saved_funnels VALUES (nextval('saved_funnel_ids'), ?, ?, ?, ?, ?) "
        f"RETURNING {_FUNNEL_COLUMNS}",
        [name, _text(spec), _text(options), now, now],
    ).fetchall()[0]
    return _funnel(row)


def list_funnels(con: duckdb.DuckDBPyConnection) -> list[SavedFunnel]:
    rows = con.execute(f"SELECT {_FUNNEL_COLUMNS} FROM saved_funnels ORDER BY funnel_id").fetchall()
    return [_funnel(row) for row in rows]


def get_funnel(con: duckdb.DuckDBPyConnection, funnel_id: int) -> SavedFunnel | None:
    rows = con.execute(
        f"SELECT {_FUNNEL_COLUMNS} FROM saved_funnels WHERE funnel_id = ?", [funnel_id]
    ).fetchall()
    return _funnel(rows[0]) if rows else None


def update_funnel(
    con: duckdb.DuckDBPyConnection,
    funnel_id: int,
    name: str,
    spec: dict[str, Any],
    options: dict[str, Any],
) -> SavedFunnel | None:
    rows = con.execute(
        "UPDATE saved_funnels SET name = ?, spec = ?, options = ?, updated_at = ? "
        f"WHERE funnel_id = ? RETURNING {_FUNNEL_COLUMNS}",
        [name, _text(spec), _text(options), datetime.now(UTC), funnel_id],
    ).fetchall()
    return _funnel(rows[0]) if rows else None


def delete_funnel(con: duckdb.DuckDBPyConnection, funnel_id: int) -> bool:
    rows = con.execute(
        "DELETE FROM saved_funnels WHERE funnel_id = ? RETURNING funnel_id", [funnel_id]
    ).fetchall()
    return bool(rows)


def existing_funnel_ids(con: duckdb.DuckDBPyConnection, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    rows = con.execute(
        f"SELECT funnel_id FROM saved_funnels WHERE funnel_id IN ({marks})", ids
    ).fetchall()
    return {int(r[0]) for r in rows}


def _funnel(row: tuple[Any, ...]) -> SavedFunnel:
    funnel_id, name, spec, options, created, updated = row
    return SavedFunnel(
        int(funnel_id), str(name), json.loads(spec), json.loads(options), created, updated
    )


# ---------------------------------------------------------------------------------- dashboards

_DASHBOARD_COLUMNS: Final = "dashboard_id, name, items, created_at, updated_at"


def insert_dashboard(
    con: duckdb.DuckDBPyConnection, name: str, items: tuple[DashboardItem, ...]
) -> Dashboard:
    now = datetime.now(UTC)
    row = con.execute(
        "INSERT INTO dashboards VALUES (nextval('dashboard_ids'), ?, ?, ?, ?) "
        f"RETURNING {_DASHBOARD_COLUMNS}",
        [name, _items_text(items), now, now],
    ).fetchall()[0]
    return _dashboard(row)


def list_dashboards(con: duckdb.DuckDBPyConnection) -> list[Dashboard]:
    rows = con.execute(
        f"SELECT {_DASHBOARD_COLUMNS} FROM dashboards ORDER BY dashboard_id"
    ).fetchall()
    return [_dashboard(row) for row in rows]


def get_dashboard(con: duckdb.DuckDBPyConnection, dashboard_id: int) -> Dashboard | None:
    rows = con.execute(
        f"SELECT {_DASHBOARD_COLUMNS} FROM dashboards WHERE dashboard_id = ?", [dashboard_id]
    ).fetchall()
    return _dashboard(rows[0]) if rows else None


def update_dashboard(
    con: duckdb.DuckDBPyConnection, dashboard_id: int, name: str, items: tuple[DashboardItem, ...]
) -> Dashboard | None:
    rows = con.execute(
        "UPDATE dashboards SET name = ?, items = ?, updated_at = ? "
        f"WHERE dashboard_id = ? RETURNING {_DASHBOARD_COLUMNS}",
        [name, _items_text(items), datetime.now(UTC), dashboard_id],
    ).fetchall()
    return _dashboard(rows[0]) if rows else None


def delete_dashboard(con: duckdb.DuckDBPyConnection, dashboard_id: int) -> bool:
    rows = con.execute(
        "DELETE FROM dashboards WHERE dashboard_id = ? RETURNING dashboard_id", [dashboard_id]
    ).fetchall()
    return bool(rows)


def _items_text(items: tuple[DashboardItem, ...]) -> str:
    return _text([item.to_dict() for item in items])


def _dashboard(row: tuple[Any, ...]) -> Dashboard:
    dashboard_id, name, items, created, updated = row
    parsed = tuple(DashboardItem(int(i["funnel_id"]), str(i["chart"])) for i in json.loads(items))
    return Dashboard(int(dashboard_id), str(name), parsed, created, updated)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)

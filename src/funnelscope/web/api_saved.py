"""What the funnel builder needs from the store (event names, properties and their values) and
the saved funnels and dashboards kept in it. Reading needs a read key; saving, changing and
deleting need an admin key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import Field

from funnelscope.web.access import admin_access, db_path, read_access
from funnelscope.web.api_common import (
    ERROR_RESPONSES,
    EXAMPLE_SPEC,
    ClippedErrorsRoute,
    Strict,
    cli_json,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["builder and saved"],
    route_class=ClippedErrorsRoute,
    responses={**ERROR_RESPONSES, 404: {"description": "No saved funnel or dashboard has the id"}},
)

MAX_ID = 2**62
FunnelId = Annotated[int, Path(ge=1, le=MAX_ID, description="A saved funnel's id")]
DashboardId = Annotated[int, Path(ge=1, le=MAX_ID, description="A dashboard's id")]


# -------------------------------------------------------------------------- the funnel builder


@router.get(
    "/events",
    dependencies=[read_access],
    summary="Event names with their counts",
    response_description='`[{"name", "count", "persons"}]`, the most frequent first',
)
def events(
    request: Request,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="At most N names")] = None,
) -> Response:
    from funnelscope.app.catalog import list_events

    return cli_json([e.to_dict() for e in list_events(db_path(request), limit)])


@router.get(
    "/properties",
    dependencies=[read_access],
    summary="Event properties with their types (or the top values of one)",
    response_description='`[{"name", "type", "events"}]` by name; with `name`: `{"name", '
    '"values": [{"value", "count"}]}`, the most common first',
)
def properties(
    request: Request,
    name: Annotated[
        str | None, Query(max_length=1000, description="List this property's top values")
    ] = None,
    event: Annotated[
        str | None, Query(max_length=1000, description="With name: on these events only")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="With name: N values")] = 20,
) -> Response:
    from funnelscope.app.catalog import list_properties, property_values

    if name is None:
        return cli_json([p.to_dict() for p in list_properties(db_path(request))])
    found = property_values(db_path(request), name, limit, event)
    return cli_json({"name": name, "values": [v.to_dict() for v in found]})


# ------------------------------------------------------------------------------ saved funnels


class SavedFunnelBody(Strict):
    """A saved funnel: its name, its spec and the funnel options the spec does not hold."""

    name: str = Field(max_length=1000, description="What the team calls it", examples=["Checkout"])
    spec: dict[str, Any] = Field(description="The funnel spec", examples=[EXAMPLE_SPEC])
    options: dict[str, Any] = Field(
        {},
        description="The `POST /api/v1/funnel` options to run it with: engine, from, to, "
        "time_to_convert, time_from, time_to, bins, trend, trend_timezone, segments, min_n, "
        "correction, alpha",
        examples=[{"from": "2024-01-01", "trend": "week"}],
    )


def _missing(what: str, item_id: int) -> HTTPException:
    return HTTPException(404, f"no {what} has id {item_id}")


@router.post(
    "/saved-funnels",
    dependencies=[admin_access],
    status_code=201,
    summary="Save a funnel (admin key)",
    response_description='The saved funnel: `{"id", "name", "spec", "options", "created_at", '
    '"updated_at"}`',
)
def create_funnel(body: SavedFunnelBody, request: Request) -> Response:
    from funnelscope.app.saved import save_funnel

    saved = save_funnel(db_path(request), body.name, body.spec, body.options)
    response = cli_json(saved.to_dict())
    response.status_code = 201
    return response


@router.get(
    "/saved-funnels",
    dependencies=[read_access],
    summary="The saved funnels",
    response_description="Every saved funnel, by id",
)
def list_funnels(request: Request) -> Response:
    from funnelscope.app.saved import saved_funnels

    return cli_json([f.to_dict() for f in saved_funnels(db_path(request))])


@router.get(
    "/saved-funnels/{funnel_id}",
    dependencies=[read_access],
    summary="One saved funnel",
    response_description="The saved funnel",
)
def get_funnel(funnel_id: FunnelId, request: Request) -> Response:
    from funnelscope.app.saved import saved_funnel

    found = saved_funnel(db_path(request), funnel_id)
    if found is None:
        raise _missing("saved funnel", funnel_id)
    return cli_json(found.to_dict())


@router.post(
    "/saved-funnels/{funnel_id}/run",
    dependencies=[read_access],
    summary="Compute a saved funnel with its options",
    response_description="What `POST /api/v1/funnel` returns for its spec and options",
)
def run_funnel(funnel_id: FunnelId, request: Request) -> Response:
    from funnelscope.app.saved import run_saved_funnel

    run = run_saved_funnel(db_path(request), funnel_id)
    if run is None:
        raise _missing("saved funnel", funnel_id)
    return cli_json(run.to_dict())


@router.put(
    "/saved-funnels/{funnel_id}",
    dependencies=[admin_access],
    summary="Change a saved funnel (admin key)",
    response_description="The saved funnel as changed",
)
def update_funnel(funnel_id: FunnelId, body: SavedFunnelBody, request: Request) -> Response:
    from funnelscope.app.saved import change_funnel

    changed = change_funnel(db_path(request), funnel_id, body.name, body.spec, body.options)
    if changed is None:
        raise _missing("saved funnel", funnel_id)
    return cli_json(changed.to_dict())


@router.delete(
    "/saved-funnels/{funnel_id}",
    dependencies=[admin_access],
    status_code=204,
    summary="Delete a saved funnel (admin key; refused while a dashboard shows it)",
)
def delete_funnel(funnel_id: FunnelId, request: Request) -> Response:
    from funnelscope.app.saved import delete_funnel as deleted

    if not deleted(db_path(request), funnel_id):
        raise _missing("saved funnel", funnel_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- dashboards


class DashboardItemBody(Strict):
    funnel_id: int = Field(ge=1, le=MAX_ID, description="A saved funnel's id")
    chart: Literal["steps", "breakdown", "trend", "time_to_convert", "table"] = Field(
        "steps",
        description="How to show it: its steps as bars, by breakdown value, its trend, its "
        "time to convert, or as a table",
    )


class DashboardBody(Strict):
    """A dashboard: its name and the saved funnels it shows, in order."""

    name: str = Field(max_length=1000, description="What the team calls it", examples=["Weekly"])
    items: list[DashboardItemBody] = Field(
        [],
        max_length=100,
        description="The saved funnels it shows, in order, each with its chart kind",
        examples=[[{"funnel_id": 1, "chart": "trend"}]],
    )

    def pairs(self) -> list[tuple[int, str]]:
        return [(item.funnel_id, item.chart) for item in self.items]


@router.post(
    "/dashboards",
    dependencies=[admin_access],
    status_code=201,
    summary="Make a dashboard (admin key)",
    response_description='The dashboard: `{"id", "name", "items": [{"funnel_id", "chart"}], '
    '"created_at", "updated_at"}`',
)
def create_dashboard(body: DashboardBody, request: Request) -> Response:
    from funnelscope.app.saved import save_dashboard

    made = save_dashboard(db_path(request), body.name, body.pairs())
    response = cli_json(made.to_dict())
    response.status_code = 201
    return response


@router.get(
    "/dashboards",
    dependencies=[read_access],
    summary="The dashboards",
    response_description="Every dashboard, by id",
)
def list_dashboards(request: Request) -> Response:
    from funnelscope.app.saved import dashboards

    return cli_json([d.to_dict() for d in dashboards(db_path(request))])


@router.get(
    "/dashboards/{dashboard_id}",
    dependencies=[read_access],
    summary="One dashboard",
    response_description="The dashboard",
)
def get_dashboard(dashboard_id: DashboardId, request: Request) -> Response:
    from funnelscope.app.saved import dashboard

    found = dashboard(db_path(request), dashboard_id)
    if found is None:
        raise _missing("dashboard", dashboard_id)
    return cli_json(found.to_dict())


@router.put(
    "/dashboards/{dashboard_id}",
    dependencies=[admin_access],
    summary="Change a dashboard (admin key)",
    response_description="The dashboard as changed",
)
def update_dashboard(dashboard_id: DashboardId, body: DashboardBody, request: Request) -> Response:
    from funnelscope.app.saved import change_dashboard

    changed = change_dashboard(db_path(request), dashboard_id, body.name, body.pairs())
    if changed is None:
        raise _missing("dashboard", dashboard_id)
    return cli_json(changed.to_dict())


@router.delete(
    "/dashboards/{dashboard_id}",
    dependencies=[admin_access],
    status_code=204,
    summary="Delete a dashboard (admin key)",
)
def delete_dashboard(dashboard_id: DashboardId, request: Request) -> Response:
    from funnelscope.app.saved import delete_dashboard as deleted

    if not deleted(db_path(request), dashboard_id):
        raise _missing("dashboard", dashboard_id)
    return Response(status_code=204)

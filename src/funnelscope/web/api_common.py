"""What every router of the read API shares: the CLI's JSON as the response, request errors
that never echo a request back, and the request fields the funnel endpoints have in common."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from funnelscope.errors import shown

MAX_ERRORS: Final = 10
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {
        "description": "A mistake in the request, as the CLI says it, or a body that is not JSON:"
        ' `{"error": "..."}`'
    },
    401: {"description": "No key, or an unknown or revoked one"},
    403: {"description": "A key of a kind that may not do this"},
    413: {"description": "The body is larger than the server takes (web/limits.py)"},
    422: {"description": "The body is not of the documented shape (the fields are named)"},
}
EXAMPLE_SPEC: Final[dict[str, Any]] = {
    "name": "checkout",
    "steps": ["view", "cart", "buy"],
    "window": "7d",
    "breakdown": "channel",
}


def cli_json(data: Any) -> Response:
    """`data` as the CLI's `--format json` writes it (text as is, values without a JSON type
    as their str, NaN and infinities as Python writes them)."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return Response(text, media_type="application/json")


def _clipped(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without the input it was about (which may be the whole body), its
    location and message bounded."""
    loc = [
        part if isinstance(part, int) else shown(str(part), quote=False) for part in error["loc"]
    ]
    return {"type": error["type"], "loc": loc[:8], "msg": shown(error["msg"], 300, quote=False)}


def _malformed(error: dict[str, Any]) -> str:
    """The message of a body that is not JSON at all: where it broke, never the body."""
    ctx = error.get("ctx") or {}
    where = error["loc"][-1] if error.get("loc") else None
    detail = shown(str(ctx.get("error", "")), 200, quote=False)
    at = f" at character {where}" if isinstance(where, int) else ""
    return (
        f"the request body is not valid JSON{at}"
        + (f" ({detail})" if detail else "")
        + ": send a JSON object with Content-Type: application/json"
    )


class ClippedErrorsRoute(APIRoute):
    """A route whose 422 lists at most ten errors, each without the value it was about."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def clipped(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raw = list(exc.errors())
                malformed = next((e for e in raw if e.get("type") == "json_invalid"), None)
                if malformed is not None:
                    return JSONResponse({"error": _malformed(malformed)}, status_code=400)
                errors = [_clipped(e) for e in raw[:MAX_ERRORS]]
                return JSONResponse({"detail": errors}, status_code=422)

        return clipped


class Strict(BaseModel):
    """A request body: unknown fields are refused (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SpecRequest(Strict):
    """A funnel spec with the engine and the `--from`/`--to` of the CLI."""

    spec: dict[str, Any] = Field(
        description="The funnel spec as a YAML/JSON spec file holds it (docs/semantics.md): steps, "
        "window, order, filters, exclusions, hold_constant, optional steps, count, breakdown "
        "with attribution, date_range ...",
        examples=[EXAMPLE_SPEC],
    )
    engine: Literal["kernel", "reference"] = Field(
        "kernel", description="The engine that computes it (both give identical results)"
    )
    date_from: str | None = Field(
        None,
        alias="from",
        description="Attempts start on or after this date (`--from`); replaces the start of "
        "the spec's date_range",
        examples=["2024-01-01"],
    )
    date_to: str | None = Field(
        None,
        alias="to",
        description="Attempts start on or before this date, the whole day (`--to`); replaces "
        "the end of the spec's date_range",
        examples=["2024-01-31"],
    )

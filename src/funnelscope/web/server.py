"""The FastAPI application of `funnelscope serve`.

The store is held open for the server's life (store/locking.py), so requests, each on its own
cursor, and the fold of captured events (app/capture.py) share one DuckDB database. Who may do
what: web/access.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from funnelscope.errors import FunnelscopeError


@dataclass(frozen=True)
class ServerSettings:
    db_path: str = "funnelscope.duckdb"
    _: KW_ONLY  # the rest by name: several optional paths, easy to swap by position
    capture_log: str | None = None  # the capture log's directory (None: STORE.capture beside it)
    fold_interval: float = 1.0  # seconds between folds of captured events into the store
    # the pipeline settings YAML (`serve --pipeline-settings`): the pipeline page's and the
    # pipeline API's settings when a request sends none
    pipeline_settings: str | None = None


def create_app(settings: ServerSettings) -> FastAPI:
    """The application over the store at `settings.db_path` (which must exist)."""
    from funnelscope.app.events import open_store
    from funnelscope.store.locking import held_open

    open_store(settings.db_path).close()  # a missing store is a clear error before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from funnelscope.app.capture import start_capture

        with held_open(settings.db_path):
            open_store(settings.db_path, read_only=False).close()  # schema made or upgraded
            # folds what the capture log holds from an earlier run before serving
            app.state.capture = start_capture(
                settings.db_path, settings.capture_log, settings.fold_interval
            )
            try:
                yield
            finally:
                app.state.capture.stop()  # the last events folded before the store is let go

    app = FastAPI(
        title="funnelscope",
        summary="Funnels, pipeline and capture over a funnelscope event store",
        lifespan=lifespan,
    )
    app.state.settings = settings
    from funnelscope.web import limits

    limits.install(app)  # no body past 1 MB is read (web/limits.py)
    from funnelscope.app.pipeline.data import settings_from

    app.state.pipeline_settings = settings_from(settings.pipeline_settings)  # bad: fail now
    from funnelscope.web.sessions import LoginThrottle, SessionStore

    app.state.sessions = SessionStore()  # the pages' logins, in memory (web/sessions.py)
    app.state.login_throttle = LoginThrottle()

    @app.exception_handler(FunnelscopeError)
    async def bad_request(request: Request, exc: FunnelscopeError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    from fastapi.staticfiles import StaticFiles

    from funnelscope.web import api, api_analyses, api_pipeline, api_saved, capture, pages

    app.include_router(api.router)
    app.include_router(api_analyses.router)
    app.include_router(api_pipeline.router)
    app.include_router(api_saved.router)
    app.include_router(capture.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app

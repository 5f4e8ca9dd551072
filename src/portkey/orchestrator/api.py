"""``/query`` and ``/catalog``: the orchestrator's FastAPI face, beside the gateway, one process.

Authenticated with the admin key (as ``/admin``). Queries run in a worker thread, never on
the event loop; DuckDB, pyarrow and the drivers load on the first request, not at start-up.
Every failure is an OpenAI-style error object with its status (400 rejected/unknown names,
503 engine unreachable, 504 timeout); malformed bodies are 400s naming the field.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from portkey.control.api.deps import require_admin
from portkey.control.api.errors import install_error_handlers

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp
    from portkey.orchestrator.service import Orchestrator, QueryResult

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the query; with ``question`` too, the fallback when no answer of the model passes
    sql: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    #: a question in natural language, answered through ``data.llm`` (see orchestrator.nl)
    question: str | None = Field(default=None, min_length=1, max_length=20_000)
    params: list[Any] | dict[str, Any] | None = None
    limit: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)
    explain: bool = False
    #: the dialect ``sql`` is written in
    dialect: str = Field(default="duckdb", pattern=r"^[a-z]+$")

    @model_validator(mode="after")
    def _sql_or_question(self) -> QueryIn:
        if self.sql is None and self.question is None:
            raise ValueError("give sql or question")
        return self


class ExplainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=1_000_000)
    params: list[Any] | dict[str, Any] | None = None
    dialect: str = Field(default="duckdb", pattern=r"^[a-z]+$")


class AdviseIn(ExplainIn):
    #: let data.llm write a narrative of the (computed) recommendations
    narrative: bool = False


class _Holder:
    """The orchestrator for the current ``data:`` settings; rebuilt when a reload changes them."""

    def __init__(self, gateway: GatewayApp) -> None:
        self.gateway = gateway
        self._lock = threading.Lock()
        self._built: tuple[Any, Orchestrator] | None = None

    def get(self) -> Orchestrator:
        settings = self.gateway.holder.current.file.data
        with self._lock:
            if self._built is None or self._built[0] != settings:
                from portkey.control.plane import data_dir
                from portkey.orchestrator.service import Orchestrator

                cache = data_dir() / "catalog.json"
                self._built = (settings, Orchestrator(settings, cache_path=cache))
            return self._built[1]


def _orchestrator(request: Request) -> Orchestrator:
    holder: _Holder = request.app.state.orchestrator
    return holder.get()


async def _unless_disconnected(
    request: Request, run: asyncio.Future[QueryResult], cancel: threading.Event
) -> QueryResult:
    """The query's result; when the client disconnects first, the engines are cancelled."""
    while True:
        done, _ = await asyncio.wait({run}, timeout=0.25)
        if done:
            return run.result()
        if await request.is_disconnected():
            cancel.set()
            return await run  # raises QueryCancelled once the engines have stopped


def create_query_app(gateway: GatewayApp) -> FastAPI:
    from portkey.orchestrator import render

    app = FastAPI(
        title="Portkey data orchestrator",
        version="1",
        description="One read-only SQL query over every configured engine. Authenticate with "
        "the admin key (`Authorization: Bearer <admin key>` or `x-portkey-admin-key`).",
        openapi_url="/query/openapi.json",
        docs_url="/query/docs",
        redoc_url=None,
        dependencies=[Depends(require_admin)],
    )
    app.state.gateway = gateway
    app.state.orchestrator = _Holder(gateway)
    install_error_handlers(app)

    @app.post("/query")
    async def query(body: QueryIn, request: Request) -> Response:
        orch = _orchestrator(request)
        if body.question is not None:
            from portkey.orchestrator.nl import api as nl

            answered = await nl.asker(gateway, orch).ask(
                body.question,
                sql=body.sql,
                explain=body.explain,
                limit=body.limit,
                timeout_s=body.timeout_s,
            )
            return nl.render(answered)
        assert body.sql is not None
        if body.explain:
            plan = await asyncio.to_thread(orch.plan, body.sql, body.params, body.dialect)
            return JSONResponse({"plan": plan.to_dict()})
        cancel = threading.Event()
        run = asyncio.ensure_future(
            asyncio.to_thread(
                orch.query,
                body.sql,
                body.params,
                limit=body.limit,
                timeout_s=body.timeout_s,
                dialect=body.dialect,
                cancel=cancel,
            )
        )
        result = await _unless_disconnected(request, run, cancel)
        if ARROW_STREAM in request.headers.get("accept", ""):
            return render.arrow_response(result)
        return render.json_response(result)

    @app.post("/query/explain")
    async def explain(body: ExplainIn, request: Request) -> JSONResponse:
        orch = _orchestrator(request)
        plan = await asyncio.to_thread(orch.plan, body.sql, body.params, body.dialect)
        return JSONResponse({"plan": plan.to_dict()})

    @app.post("/query/advise")
    async def advise(body: AdviseIn, request: Request) -> JSONResponse:
        from portkey.orchestrator.nl import api as nl
        from portkey.orchestrator.nl.advisor import advise as compute

        orch = _orchestrator(request)
        advice = await asyncio.to_thread(compute, orch, body.sql, body.dialect)
        if body.narrative:
            await nl.narrate(gateway, orch, advice)
        return JSONResponse(advice)

    @app.get("/catalog")
    async def catalog(request: Request) -> JSONResponse:
        orch = _orchestrator(request)
        return JSONResponse(await asyncio.to_thread(orch.catalog.to_dict))

    @app.post("/catalog/refresh")
    async def refresh(request: Request) -> JSONResponse:
        orch = _orchestrator(request)
        await asyncio.to_thread(orch.catalog.refresh)
        return JSONResponse(await asyncio.to_thread(orch.catalog.to_dict))

    return app

"""The web dashboard at ``/dashboard``: server-rendered pages over the log store and control plane.

No build step: Jinja templates, one small script, and uPlot vendored from npm (``static/vendor``,
with its licence). Pages: overview (the five charts), logs with filters and one request,
keys and budgets, providers health. Every page needs the admin key (see ``auth``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from portkey.control.api.errors import install_error_handlers
from portkey.dashboard import auth, pages
from portkey.errors import InvalidRequest, NotFound
from portkey.observe.analytics import Analytics
from portkey.observe.analytics_api import analytics, health_thresholds
from portkey.observe.api import log_store

if TYPE_CHECKING:
    from portkey.gateway.app import GatewayApp

HERE = Path(__file__).parent
PREFIX = auth.PATH
MAX_FORM_BYTES = 4096
#: pages render their own data: scripts from this origin only, no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["when"] = pages.when
Session = Depends(auth.require_session)
Text = Annotated[str | None, Query(max_length=200)]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("page", name.removesuffix(".html"))
    response = templates.TemplateResponse(
        request, name, {"prefix": PREFIX, **context}, status_code=status
    )
    response.headers.update(SECURITY_HEADERS)
    return response


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, auth.LoginRequired)
    target = f"{PREFIX}/login?next={quote(exc.next_path, safe='/')}"
    return RedirectResponse(target, status_code=303)


def stats(request: Request) -> Analytics:
    """This app's analytics (one per app, so its rollups refresh on their own schedule)."""
    return analytics(request)


async def login_form(request: Request, next: Text = None) -> HTMLResponse:
    auth.configured_key(request)
    return render(request, "login.html", next=auth.safe_next(next))


async def login(request: Request) -> Response:
    """The form posts ``key`` (and ``next``): right key -> cookie and redirect; else 401."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("sign-in form too large", param="key")
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    target = auth.safe_next(form.get("next"))
    if not auth.check_key(request, form.get("key", "")):
        return render(request, "login.html", 401, next=target, error="That is not the admin key.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE, auth.session_token(auth.configured_key(request)), max_age=auth.SESSION_S,
        path=PREFIX, httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path=PREFIX)
    return response


async def overview(request: Request, range: Text = None) -> HTMLResponse:
    span = pages.window_of(range)
    data = await asyncio.to_thread(pages.overview_data, stats(request), span)
    return render(request, "overview.html", data=data, ranges=pages.RANGES, range=span.label)


async def logs(request: Request) -> HTMLResponse:
    query = pages.LogQuery.parse(request.query_params)
    page = await asyncio.to_thread(log_store(request).search, *query.search_args())
    return render(request, "logs.html", rows=page.data, query=query, next_cursor=page.next_cursor)


async def log_detail(request: Request, log_id: str) -> HTMLResponse:
    record = await asyncio.to_thread(log_store(request).get, log_id)
    if record is None:
        raise NotFound(f"no request log {log_id!r}")
    return render(request, "log.html", row=record, fields=pages.detail_fields(record))


async def keys(request: Request) -> HTMLResponse:
    control = request.app.state.gateway.control
    data = await asyncio.to_thread(pages.keys_data, control, stats(request), time.time())
    return render(request, "keys.html", **data)


async def providers(request: Request, range: Text = None) -> HTMLResponse:
    span = pages.window_of(range or "5m")
    limit, least = health_thresholds(request)
    health = await asyncio.to_thread(
        stats(request).provider_health, span.since, span.until, limit, least
    )
    return render(
        request, "providers.html", health=health, ranges=pages.RANGES, range=span.label,
        max_error_rate=limit, min_requests=least,
    )  # fmt: skip


def create_dashboard_app(gateway: GatewayApp) -> FastAPI:
    app = FastAPI(title="Portkey dashboard", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    install_error_handlers(app, "dashboard page")
    app.add_exception_handler(auth.LoginRequired, _login_required)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_api_route(f"{PREFIX}/login", login_form, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route(f"{PREFIX}/login", login, methods=["POST"])
    app.add_api_route(f"{PREFIX}/logout", logout, methods=["POST"])
    for path, page in (
        ("", overview), ("/", overview), ("/logs", logs), ("/logs/{log_id}", log_detail),
        ("/keys", keys), ("/providers", providers),
    ):  # fmt: skip
        app.add_api_route(
            PREFIX + path, page, methods=["GET"], dependencies=[Session],
            response_class=HTMLResponse,
        )  # fmt: skip
    return app

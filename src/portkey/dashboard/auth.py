"""Dashboard sign-in: the admin key, typed once into a form, becomes an HttpOnly session cookie.

The cookie holds no key: it is ``<expiry>.<HMAC-SHA256(admin key, expiry)>``, so it expires on
its own, and changing the admin key signs every browser out. Scripts may skip the form and send
the admin key as the admin API takes it (``Authorization: Bearer`` or ``x-portkey-admin-key``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Request

from portkey.control.api.deps import admin_key, require_admin
from portkey.errors import PermissionDenied

COOKIE = "portkey_dashboard"
PATH = "/dashboard"
SESSION_S = 12 * 3600


class LoginRequired(Exception):
    """No valid session: the browser is sent to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _signature(key: str, expires: int) -> str:
    return hmac.new(
        key.encode(), f"portkey-dashboard.{expires}".encode(), hashlib.sha256
    ).hexdigest()


def session_token(key: str, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + SESSION_S
    return f"{expires}.{_signature(key, expires)}"


def valid_session(token: str | None, key: str, now: float | None = None) -> bool:
    if not token or "." not in token:
        return False
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or int(expires_text) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature.encode(), _signature(key, int(expires_text)).encode())


def configured_key(request: Request) -> str:
    key = admin_key(request)
    if not key:
        raise PermissionDenied(
            "the dashboard is disabled: set PORTKEY_ADMIN_KEY (or admin.api_key in portkey.yaml)",
            code="admin_disabled",
        )
    return key


def require_session(request: Request) -> None:
    """A dependency: a valid session cookie or admin key header, else ``LoginRequired``."""
    key = configured_key(request)
    if valid_session(request.cookies.get(COOKIE), key):
        return
    headers = request.headers
    if "authorization" in headers or "x-portkey-admin-key" in headers:
        require_admin(request, headers.get("authorization"), headers.get("x-portkey-admin-key"))
        return
    raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))


def check_key(request: Request, given: str) -> bool:
    return hmac.compare_digest(given.encode(), configured_key(request).encode())


def safe_next(path: str | None) -> str:
    """Only a dashboard path (never another site) may follow the sign-in."""
    if path and path.startswith(PATH) and not path.startswith("//") and "\\" not in path:
        return path
    return PATH

"""The gateway's one error taxonomy: every error knows its HTTP status and OpenAI type.

    GatewayError
     ├── InvalidRequest          400  invalid_request_error   (client input, config header)
     │    └── PayloadTooLarge    413
     ├── AuthFailed              401  authentication_error
     ├── PermissionDenied        403  permission_error        (caller key out of scope)
     ├── NotFound                404  not_found_error
     ├── MethodNotAllowed        405  method_not_allowed
     ├── Conflict                409  conflict_error          (duplicate name)
     ├── RateLimited             429  rate_limit_error        (retry_after seconds, if known)
     │    └── BudgetExceeded     429  budget_exceeded
     ├── StoreUnavailable        503  store_unavailable       (control-plane database down)
     │    └── LimiterUnavailable 503  limiter_unavailable     (Redis counters down, fail closed)
     ├── ContextWindowExceeded   400  context_length_exceeded
     ├── ContentFiltered         400  content_filter
     ├── UpstreamTimeout         408  upstream_timeout
     ├── UpstreamUnavailable     502  upstream_unavailable    (connect refused, reset, DNS)
     ├── UpstreamBadResponse     502  upstream_bad_response   (malformed body, 200 carrying an error)
     ├── UpstreamError           any  upstream_error          (an upstream non-2xx, status kept)
     └── AllTargetsFailed        last status; lists every attempt

Errors are rendered as ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson


class GatewayError(Exception):
    """Base of every error the gateway answers with."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "gateway_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.http_status = status if status is not None else self.status
        #: seconds the upstream asked us to wait (Retry-After), when it said so
        self.retry_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code if self.code is not None else self.type,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413


class AuthFailed(GatewayError):
    status = 401
    type = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class Conflict(GatewayError):
    status = 409
    type = "conflict_error"


class StoreUnavailable(GatewayError):
    status = 503
    type = "store_unavailable"


class LimiterUnavailable(StoreUnavailable):
    """The rate-limit / budget counters' backend is down and ``on_backend_error`` is closed."""

    type = "limiter_unavailable"
    retryable = True


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "method_not_allowed"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class BudgetExceeded(RateLimited):
    type = "budget_exceeded"
    retryable = False


class ContextWindowExceeded(GatewayError):
    status = 400
    type = "context_length_exceeded"


class ContentFiltered(GatewayError):
    status = 400
    type = "content_filter"


class UpstreamTimeout(GatewayError):
    status = 408
    type = "upstream_timeout"
    retryable = True


class UpstreamUnavailable(GatewayError):
    status = 502
    type = "upstream_unavailable"
    retryable = True


class UpstreamBadResponse(GatewayError):
    status = 502
    type = "upstream_bad_response"
    retryable = True


class UpstreamError(GatewayError):
    """An upstream answered non-2xx; its status and (sanitised) error are kept."""

    status = 502
    type = "upstream_error"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one target, kept for the all-targets-failed answer and the log."""

    target: str
    provider: str
    status: int
    error_type: str
    message: str
    duration_ms: float
    #: perf_counter when the attempt began (its span's start)
    started: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "provider": self.provider,
            "status": self.status,
            "error_type": self.error_type,
            "message": self.message,
            "duration_ms": round(self.duration_ms, 2),
        }


class AllTargetsFailed(GatewayError):
    """Every target of the strategy tree failed; the answer lists every attempt."""

    type = "all_targets_failed"

    def __init__(self, attempts: list[Attempt], last: GatewayError) -> None:
        summary = "; ".join(
            f"{a.target} ({a.provider}): {a.status} {a.error_type}" for a in attempts
        )
        super().__init__(
            f"All {len(attempts)} attempts failed. Last error: {last.message}. Attempts: {summary}",
            status=last.http_status,
            code=last.code or last.type,
        )
        self.attempts = attempts
        self.last = last
        self.retry_after = last.retry_after  # a final 429 still tells the client when to retry

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["attempts"] = [a.to_dict() for a in self.attempts]
        return body


def error_for_status(status: int, message: str, retry_after: float | None = None) -> GatewayError:
    """Classify an upstream HTTP status into the taxonomy (providers may refine this)."""
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=429)
    if status in (401, 403):
        return AuthFailed(message, status=status)
    if status == 408:
        return UpstreamTimeout(message, status=408)
    return UpstreamError(message, status=status)

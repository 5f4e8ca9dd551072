"""The orchestrator's errors, each a ``GatewayError`` with its HTTP status and type.

InvalidRequest (400)
 ├── QueryRejected       400  query_rejected      (not read-only, does not parse, bad params)
 ├── UnknownName         400  unknown_table / unknown_column (with closest names)
 └── TranslationFailed   400  translation_failed  (an expression a dialect cannot express)
EngineUnavailable        503  engine_unavailable  (names the engine)
EngineFailed             502  engine_error        (the engine refused the subquery)
QueryTimeout             504  query_timeout       (says what ran)
"""

from __future__ import annotations

from portkey.errors import GatewayError, InvalidRequest


class QueryRejected(InvalidRequest):
    type = "invalid_request_error"


class UnknownName(InvalidRequest):
    type = "invalid_request_error"


class TranslationFailed(InvalidRequest):
    type = "invalid_request_error"


class EngineUnavailable(GatewayError):
    status = 503
    type = "engine_unavailable"
    retryable = True


class EngineFailed(GatewayError):
    status = 502
    type = "engine_error"


class FragmentRefused(EngineFailed):
    """An engine refused one fragment; ``fragment`` says which (the service may re-plan)."""

    def __init__(self, cause: EngineFailed, fragment: object) -> None:
        super().__init__(cause.message, param=cause.param, code=cause.code)
        self.fragment = fragment


class QueryTimeout(GatewayError):
    status = 504
    type = "query_timeout"

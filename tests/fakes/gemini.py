"""A fake Gemini API and Vertex AI (generateContent, SSE streams, embeddings, OAuth token).

Both URL shapes: ``/v1beta/models/{model}:{method}`` keyed by ``x-goog-api-key``, and
``/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}`` keyed by a
bearer token this fake issued at ``POST /token`` for an RS256 service-account JWT it could
verify. Native shapes throughout: ``candidates[].content.parts``, ``finishReason``,
``usageMetadata``, ``data: {GenerateContentResponse}\\r\\n\\r\\n`` events with no end marker,
and ``{"error": {code, message, status, details}}`` bodies. A functionCall carries a thought
signature the next request must send back (as Gemini 3 demands).
Extra model tokens: ``cut`` (stream ends before a finishReason), ``garbage`` (a stream event
that is not JSON), ``midstream-error`` (an error event after the first text), ``retry-info``
(a 429 whose only delay is the body's RetryInfo).
``GET /v1beta/models`` lists ``CATALOG`` paged by ``pageSize`` / ``pageToken`` with
``nextPageToken`` (absent on the last page), at most ``PAGE_CAP`` models a page so paging is
always exercised; an api key holding ``revoked`` gets Google's API_KEY_INVALID 400, one
holding ``bad-list`` a page whose ``models`` is not a list.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.contract import (
    FLAKY_STATE,
    REQUESTS,
    TOOL_ARGS,
    TOOL_NAME,
    Reply,
    Transcript,
    decide,
    error_kind,
    new_app,
    pieces,
    record,
    tokens,
)
from tests.providers.conformance import USAGE

JSON = dict[str, Any]
SIGNATURE = "CiQBVKhc7pFakeThoughtSignature0001"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PUBLIC_KEY = web.AppKey("public_key", rsa.RSAPublicKey)
ISSUED = web.AppKey("issued", set)  # access tokens handed out
TOKEN_CALLS = web.AppKey("token_calls", list)  # claims of every token request
FAIL_TOKENS = web.AppKey("fail_tokens", list)  # [True] makes the token endpoint refuse
COUNTER = itertools.count(1)


def _error(code: int, status: str, message: str, details: list[JSON] | None = None) -> JSON:
    error: JSON = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


#: Google's error answers (https://ai.google.dev/gemini-api/docs/troubleshooting)
ERRORS: dict[str, tuple[int, JSON, dict[str, str]]] = {
    "rate_limited": (
        429,
        _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
        ),
        {"retry-after": "1"},
    ),
    "auth": (
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        ),
        {},
    ),
    "context_length": (
        400,
        _error(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200011) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        {},
    ),
    "server": (
        500,
        _error(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        ),
        {},
    ),
}
RETRY_INFO_3S = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
#: Vertex answers a bad credential with 401 UNAUTHENTICATED
VERTEX_AUTH = _error(
    401,
    "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential.",
)


# -- service accounts --------------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_json(key: rsa.RSAPrivateKey, token_uri: str) -> str:
    """A service-account key file for ``key`` whose token endpoint is ``token_uri``."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return orjson.dumps(
        {
            "type": "service_account",
            "project_id": "proj-fake",
            "private_key_id": "fa4e0000000000000000000000000000000000e1",
            "private_key": pem,
            "client_email": "gateway@proj-fake.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }
    ).decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify(assertion: str, key: rsa.RSAPublicKey, audience: str) -> JSON | None:
    """The claims of a valid RS256 assertion for ``audience``, else None."""
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header = orjson.loads(_unb64(header_b64))
        claims = orjson.loads(_unb64(claims_b64))
        signed = f"{header_b64}.{claims_b64}".encode()
        key.verify(_unb64(signature_b64), signed, padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return None
    now = time.time()
    if (
        header.get("alg") != "RS256"
        or claims.get("aud") != audience
        or claims.get("scope") != SCOPE
        or not claims.get("iss")
        or not claims.get("iat", now + 1) <= now + 5 < claims.get("exp", 0)
        or claims["exp"] - claims["iat"] > 3600
    ):
        return None
    return dict(claims)


async def token(request: web.Request) -> web.Response:
    form = await request.post()
    claims = None
    if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        audience = f"{request.scheme}://{request.host}{request.path}"
        claims = _verify(str(form.get("assertion") or ""), request.app[PUBLIC_KEY], audience)
    request.app[TOKEN_CALLS].append(claims)
    if claims is None or request.app[FAIL_TOKENS]:
        refusal = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        return web.json_response(refusal, status=400)
    access = f"ya29.fake-{next(COUNTER)}"
    request.app[ISSUED].add(access)
    return web.json_response({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})


# -- reading a generateContent request ---------------------------------------------------


def _texts(parts: Any) -> str:
    return "".join(p["text"] for p in parts or () if isinstance(p.get("text"), str))


def transcript(body: JSON) -> Transcript:
    seen = Transcript()
    system = body.get("systemInstruction")
    if system:
        seen.system = "\n".join(p["text"] for p in system.get("parts") or () if "text" in p)
    contents = body.get("contents") or []
    seen.turns = len(contents)
    for content in contents:
        for part in content.get("parts") or ():
            media = part.get("inlineData") or part.get("fileData")
            if media and seen.image_type is None:
                seen.image_type = media.get("mimeType")
            if "functionResponse" in part:
                response = part["functionResponse"].get("response") or {}
                text = response.get("content")
                seen.tool_result = (
                    text if isinstance(text, str) else orjson.dumps(response).decode()
                )
        if content.get("role") == "user" and _texts(content.get("parts")):
            seen.last_user = _texts(content.get("parts"))
    names = {
        d.get("name")
        for tool in body.get("tools") or ()
        for d in tool.get("functionDeclarations") or ()
    }
    seen.offers_tool = TOOL_NAME in names
    config = body.get("generationConfig") or {}
    schema = config.get("responseSchema")
    seen.wants_json = config.get("responseMimeType") == "application/json" and (
        schema is None or "ok" in (schema.get("properties") or {})
    )
    return seen


def _unsigned_call(body: JSON) -> bool:
    """A functionCall in the history without the signature this fake gave it."""
    return any(
        "functionCall" in part and part.get("thoughtSignature") != SIGNATURE
        for content in body.get("contents") or ()
        if content.get("role") == "model"
        for part in content.get("parts") or ()
    )


# -- writing answers ---------------------------------------------------------------------


def _usage(completion: int | None = None) -> JSON:
    prompt = USAGE["prompt_tokens"]
    out = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    if completion is not None:
        out["candidatesTokenCount"] = completion
        out["totalTokenCount"] = prompt + completion
    return out


def _parts(reply: Reply) -> list[JSON]:
    if reply.tool_call:
        return [
            {"functionCall": {"name": TOOL_NAME, "args": TOOL_ARGS}, "thoughtSignature": SIGNATURE}
        ]
    return [{"text": reply.text or ""}]


def _response(model: str, candidate: JSON, usage: JSON) -> JSON:
    return {
        "candidates": [{"index": 0, **candidate}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "fakeResp0001",
    }


SAFETY_BLOCK = {
    "finishReason": "SAFETY",
    "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
    ],
}


def answer(model: str, reply: Reply | None) -> JSON:
    """One whole answer; ``None`` means blocked for safety."""
    if reply is None:
        return _response(model, SAFETY_BLOCK, _usage(0))
    content = {"role": "model", "parts": _parts(reply)}
    return _response(
        model, {"content": content, "finishReason": "STOP"}, _usage(USAGE["completion_tokens"])
    )


def stream_events(model: str, reply: Reply | None) -> list[bytes]:
    if reply is None:
        return [orjson.dumps(answer(model, None))]
    said = tokens(model)
    if reply.tool_call:
        return [orjson.dumps(answer(model, reply))]
    chunks = pieces(reply.text or "")
    events = [
        orjson.dumps(
            _response(model, {"content": {"role": "model", "parts": [{"text": c}]}}, _usage())
        )
        for c in chunks
    ]
    if "cut" in said:
        return events[:-1]
    if "garbage" in said:
        return [events[0], b'{"candidates": [{"content": {"parts": [{"te']
    if "midstream-error" in said:
        return [events[0], orjson.dumps(ERRORS["server"][1])]
    last = orjson.loads(events[-1])
    last["candidates"][0]["finishReason"] = "STOP"
    last["usageMetadata"] = _usage(USAGE["completion_tokens"])
    return [*events[:-1], orjson.dumps(last)]


async def _stream(request: web.Request, model: str, reply: Reply | None) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in stream_events(model, reply):
        await response.write(b"data: " + event + b"\r\n\r\n")
        await asyncio.sleep(0)
    await response.write_eof()
    return response


# -- embeddings --------------------------------------------------------------------------


def vector(text: str, size: int | None) -> list[float]:
    values = [float(len(text)), 0.5, -0.25, 0.125]
    return values[: size or 3]


def embed_gemini(body: JSON) -> JSON:
    out = []
    for item in body.get("requests") or ():
        text = _texts((item.get("content") or {}).get("parts"))
        out.append({"values": vector(text, item.get("outputDimensionality"))})
    return {"embeddings": out}


def embed_vertex(body: JSON) -> JSON:
    size = (body.get("parameters") or {}).get("outputDimensionality")
    predictions = [
        {
            "embeddings": {
                "values": vector(i["content"], size),
                "statistics": {"token_count": 2, "truncated": False},
            }
        }
        for i in body.get("instances") or ()
    ]
    return {"predictions": predictions, "metadata": {"billableCharacterCount": 10}}


# -- handlers ----------------------------------------------------------------------------


async def _serve(request: web.Request, caller: str, vertex: bool) -> web.StreamResponse:
    body = await record(request)
    model, _, method = request.match_info["call"].rpartition(":")
    if method in ("batchEmbedContents", "predict"):
        return web.json_response(embed_vertex(body) if vertex else embed_gemini(body))
    if method not in ("generateContent", "streamGenerateContent"):
        return web.json_response(_error(404, "NOT_FOUND", f"unknown method {method}"), status=404)
    kind = error_kind(model)
    if "retry-info" in tokens(model):  # a quota error that says when only in its body
        error = _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", [RETRY_INFO_3S])
        return web.json_response(error, status=429)
    if kind is None and request.app[FLAKY_STATE].trips(model, caller):
        kind = "rate_limited"
    if kind == "auth" and vertex:
        return web.json_response(VERTEX_AUTH, status=401)
    if kind in ERRORS:
        status, error, headers = ERRORS[kind]
        return web.json_response(error, status=status, headers=headers)
    if _unsigned_call(body):
        message = "Function call is missing a thought_signature in functionCall parts."
        return web.json_response(_error(400, "INVALID_ARGUMENT", message), status=400)
    reply = None if kind == "content_filter" else decide(model, transcript(body))
    if method == "streamGenerateContent":
        if request.query.get("alt") != "sse":
            return web.json_response(
                _error(400, "INVALID_ARGUMENT", "fake wants alt=sse"), status=400
            )
        return await _stream(request, model, reply)
    return web.json_response(answer(model, reply))


async def gemini(request: web.Request) -> web.StreamResponse:
    key = request.headers.get("x-goog-api-key", "")
    if not key:
        message = "Method doesn't allow unregistered callers. Please use API Key."
        return web.json_response(_error(403, "PERMISSION_DENIED", message), status=403)
    return await _serve(request, key, vertex=False)


async def vertex(request: web.Request) -> web.StreamResponse:
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:] if auth.startswith("Bearer ") else ""
    if bearer not in request.app[ISSUED]:
        return web.json_response(VERTEX_AUTH, status=401)
    return await _serve(request, bearer, vertex=True)


def _catalog_entry(name: str, display: str, methods: list[str], output: int) -> JSON:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": display,
        "description": f"{display} (fake)",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": output,
        "supportedGenerationMethods": methods,
    }


CHAT_METHODS = ["generateContent", "countTokens", "createCachedContent"]
EMBED_METHODS = ["embedContent", "countTextTokens", "countTokens"]
#: what ``GET /v1beta/models`` lists, in the Gemini API's shape
CATALOG: list[JSON] = [
    _catalog_entry("gemini-2.5-pro", "Gemini 2.5 Pro", CHAT_METHODS, 65536),
    _catalog_entry("gemini-2.5-flash", "Gemini 2.5 Flash", CHAT_METHODS, 65536),
    _catalog_entry("gemini-2.0-flash", "Gemini 2.0 Flash", CHAT_METHODS, 8192),
    _catalog_entry("gemini-embedding-001", "Gemini Embedding 001", EMBED_METHODS, 1),
    _catalog_entry("text-embedding-004", "Text Embedding 004", EMBED_METHODS, 1),
]
PAGE_CAP = 2


async def list_models(request: web.Request) -> web.Response:
    request.app[REQUESTS].append((request.path_qs, dict(request.headers), None))
    key = request.headers.get("x-goog-api-key", "")
    if not key:
        message = "Method doesn't allow unregistered callers. Please use API Key."
        return web.json_response(_error(403, "PERMISSION_DENIED", message), status=403)
    if "revoked" in key:
        status, error, _ = ERRORS["auth"]
        return web.json_response(error, status=status)
    try:
        size = int(request.query.get("pageSize", "50"))
        start = int(request.query.get("pageToken", "page-0").removeprefix("page-"))
    except ValueError:
        return web.json_response(_error(400, "INVALID_ARGUMENT", "bad page"), status=400)
    page = CATALOG[start : start + min(max(size, 1), PAGE_CAP)]
    if "bad-list" in key:
        return web.json_response({"models": {"name": "models/gemini-2.5-pro"}})
    body: JSON = {"models": page}
    if start + len(page) < len(CATALOG):
        body["nextPageToken"] = f"page-{start + len(page)}"
    return web.json_response(body)


def make_app(public_key: rsa.RSAPublicKey | None = None) -> web.Application:
    app = new_app()
    app[PUBLIC_KEY] = public_key or new_key().public_key()
    app[ISSUED] = set()
    app[TOKEN_CALLS] = []
    app[FAIL_TOKENS] = []
    app.router.add_post("/v1beta/models/{call}", gemini)
    app.router.add_get("/v1beta/models", list_models)
    app.router.add_post(
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}", vertex
    )
    app.router.add_post("/token", token)
    return app

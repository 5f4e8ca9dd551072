"""A fake Bedrock runtime speaking Converse, ConverseStream (event-stream) and InvokeModel.

Native errors and a full SigV4 check of every request. Behaviour follows the conformance
contract (``tests/providers/conformance``) from the model id in the URL path, plus stream
scripts for the Bedrock tests: ``midstream-throttling``, ``exception-first``,
``flaky-exception`` (exception-first once per key), ``badcrc``, ``cut``, ``nometadata``,
``unknown-event``.
"""

from __future__ import annotations

import hmac
import re
import secrets
import struct
import zlib
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from tests.providers.conformance import ERROR_KINDS, USAGE, reply_text

ACCESS_KEY_ID = "AKIAFAKEBEDROCK00001"
SECRET_ACCESS_KEY = "fake/secret+key/for-the-bedrock-fake-0001"
REGION = "us-west-2"
EVENT_STREAM = "application/vnd.amazon.eventstream"
AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)"
    r"/bedrock/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})"
)
INVALID_TOKEN = "The security token included in the request is invalid."
BLOCKED = "Sorry, the model cannot answer this question."
NATIVE_USAGE = {
    "inputTokens": USAGE["prompt_tokens"],
    "outputTokens": USAGE["completion_tokens"],
    "totalTokens": USAGE["total_tokens"],
    "cacheReadInputTokens": 0,
    "cacheWriteInputTokens": 0,
}
#: error-<kind> -> (status, x-amzn-ErrorType, message) as Bedrock answers them
ERRORS = {
    "rate_limited": (429, "ThrottlingException", "Too many requests, please wait."),
    "auth": (403, "UnrecognizedClientException", INVALID_TOKEN),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "server": (500, "InternalServerException", "The server encountered an internal error."),
}
assert set(ERRORS) | {"content_filter"} == set(ERROR_KINDS)

SEEN: web.AppKey[set[str]] = web.AppKey("seen", set)
REQUESTS: web.AppKey[list[dict[str, Any]]] = web.AppKey("requests", list)
KEYS: web.AppKey[dict[str, str]] = web.AppKey("keys", dict)


# -- AWS event-stream framing --------------------------------------------------------------


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), string headers, payload, CRC."""
    encoded = b"".join(
        bytes([len(name)]) + name + b"\x07" + struct.pack(">H", len(value)) + value
        for name, value in ((k.encode(), v.encode()) for k, v in headers.items())
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, body: dict[str, Any]) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, orjson.dumps({**body, "p": "abcdefghijklmnop"}))


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, orjson.dumps({"message": message}))


def stream_frames(content: list[dict[str, Any]], stop: str, metadata: bool = True) -> list[bytes]:
    """ConverseStream events for an answer: text in >= 2 deltas, tool input in >= 2 deltas."""
    frames = [event_frame("messageStart", {"role": "assistant"})]
    for index, block in enumerate(content):
        if "text" in block:
            text = block["text"]
            cut = max(1, len(text) // 2)
            for piece in (text[:cut], text[cut:]):
                delta = {"contentBlockIndex": index, "delta": {"text": piece}}
                frames.append(event_frame("contentBlockDelta", delta))
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            frames.append(
                event_frame("contentBlockStart", {"contentBlockIndex": index, "start": start})
            )
            arguments = orjson.dumps(use["input"]).decode()
            cut = max(1, len(arguments) // 2)
            for piece in (arguments[:cut], arguments[cut:]):
                delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}}
                frames.append(event_frame("contentBlockDelta", delta))
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event_frame("messageStop", {"stopReason": stop}))
    if metadata:
        frames.append(
            event_frame("metadata", {"usage": NATIVE_USAGE, "metrics": {"latencyMs": 42}})
        )
    return frames


# -- SigV4 ---------------------------------------------------------------------------------


def aws_error(status: int, kind: str, message: str, **headers: str) -> web.Response:
    headers["x-amzn-ErrorType"] = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    headers["x-amzn-RequestId"] = secrets.token_hex(16)
    return web.json_response({"message": message}, status=status, headers=headers)


def expected_signature(request: web.Request, body: bytes, match: re.Match[str], secret: str) -> str:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws = AWSRequest(method=request.method, url=f"http://{request.host}{request.raw_path}")
    aws.data = body
    for name in match["signed"].split(";"):
        for value in request.headers.getall(name, []):
            aws.headers[name] = value
    aws.context["timestamp"] = request.headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(match["key"], secret), "bedrock", match["region"])
    return str(signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws))


def check_auth(request: web.Request, body: bytes) -> web.Response | str:
    """The access key id of a correctly signed request, else Bedrock's 403."""
    match = AUTH.fullmatch(request.headers.get("authorization", ""))
    stamp = request.headers.get("x-amz-date", "")
    if match is None or not stamp:
        return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    secret = request.app[KEYS].get(match["key"])
    if secret is None:
        return aws_error(403, "UnrecognizedClientException", INVALID_TOKEN)
    signed = match["signed"].split(";")
    wrong_date = not stamp.startswith(match["date"])
    if wrong_date or "host" not in signed or "x-amz-date" not in signed:
        return aws_error(403, "IncompleteSignatureException", "Signature is incomplete.")
    if not hmac.compare_digest(match["sig"], expected_signature(request, body, match, secret)):
        message = "The request signature we calculated does not match the signature you provided."
        return aws_error(403, "InvalidSignatureException", message)
    return match["key"]


# -- the answers ---------------------------------------------------------------------------


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in blocks if "text" in b)


def _tool_result(messages: list[dict[str, Any]]) -> str | None:
    found = None
    for message in messages:
        for block in message["content"]:
            if "toolResult" in block:
                parts = block["toolResult"]["content"]
                found = "".join(
                    p["text"] if "text" in p else orjson.dumps(p["json"]).decode() for p in parts
                )
    return found


def _image(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        for block in message["content"]:
            if "image" in block:
                return "image:image/" + block["image"]["format"]
    return "image:none"


def _json_answer(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    config = body.get("toolConfig") or {}
    forced = (config.get("toolChoice") or {}).get("tool", {}).get("name")
    for tool in config.get("tools", []):
        spec = tool.get("toolSpec", {})
        schema = spec.get("inputSchema", {}).get("json", {})
        if spec.get("name") == forced and "ok" in schema.get("properties", {}):
            use = {"toolUseId": "tooluse_json01", "name": forced, "input": {"ok": True}}
            return [{"toolUse": use}]
    return None


def answer(tokens: set[str], body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(content blocks, stopReason) by the contract's model-name tokens."""
    messages = body["messages"]
    if "tool" in tokens:
        result = _tool_result(messages)
        if result is not None:
            return [{"text": f"tool-result:{result}"}], "end_turn"
        use = {"toolUseId": "tooluse_" + secrets.token_hex(8), "name": "get_weather"}
        return [{"toolUse": {**use, "input": {"city": "Paris"}}}], "tool_use"
    if "image" in tokens:
        return [{"text": _image(messages)}], "end_turn"
    if "json" in tokens:
        blocks = _json_answer(body)
        return (blocks, "tool_use") if blocks else ([{"text": "no-json"}], "end_turn")
    if "error-content_filter" in tokens:
        return [{"text": BLOCKED}], "guardrail_intervened"
    system = "\n".join(b["text"] for b in body.get("system", []))
    users = [m for m in messages if m["role"] == "user"]
    last = _text_of(users[-1]["content"]) if users else ""
    return [{"text": reply_text(system or None, len(messages), last)}], "end_turn"


def _model_and_action(request: web.Request) -> tuple[str, str]:
    _, _, segment, action = request.raw_path.split("?", 1)[0].split("/", 3)
    return unquote(segment), action


async def handle(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    key = check_auth(request, raw)
    if isinstance(key, web.Response):
        return key
    model, action = _model_and_action(request)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return aws_error(400, "ValidationException", "Malformed input request.")
    request.app[REQUESTS].append(
        {"model": model, "action": action, "body": body, "headers": dict(request.headers)}
    )
    tokens = set(model.split("+"))
    failure = _scripted_error(request.app, tokens, key)
    if failure is not None:
        return failure
    if action == "invoke":
        return embed(body)
    content, stop = answer(tokens, body)
    if action == "converse-stream":
        if "flaky-exception" in tokens and f"{key}:exception" not in request.app[SEEN]:
            request.app[SEEN].add(f"{key}:exception")
            tokens.add("exception-first")
        return await stream(request, tokens, content, stop)
    message = {"role": "assistant", "content": content}
    return web.json_response(
        {
            "output": {"message": message},
            "stopReason": stop,
            "usage": NATIVE_USAGE,
            "metrics": {"latencyMs": 42},
        },
        headers={"x-amzn-RequestId": secrets.token_hex(16)},
    )


def _scripted_error(app: web.Application, tokens: set[str], key: str) -> web.Response | None:
    if "flaky-rate_limited" in tokens and key not in app[SEEN]:
        app[SEEN].add(key)
        tokens = {"error-rate_limited"}
    for kind, (status, name, message) in ERRORS.items():
        if f"error-{kind}" in tokens:
            extra = {"retry-after": "1"} if kind == "rate_limited" else {}
            return aws_error(status, name, message, **extra)
    return None


def embed(body: dict[str, Any]) -> web.Response:
    if isinstance(body.get("inputText"), str):
        size = int(body.get("dimensions") or 3)
        vector = [float(len(body["inputText"]))] + [0.25] * (size - 1)
        return web.json_response({"embedding": vector, "inputTextTokenCount": 5})
    texts = body.get("texts")
    if isinstance(texts, list) and isinstance(body.get("input_type"), str):
        return web.json_response(
            {
                "id": secrets.token_hex(8),
                "response_type": "embeddings_floats",
                "texts": texts,
                "embeddings": [[float(len(t)), 0.5] for t in texts],
            }
        )
    return aws_error(400, "ValidationException", "Malformed input request, please reformat.")


async def stream(
    request: web.Request, tokens: set[str], content: list[dict[str, Any]], stop: str
) -> web.StreamResponse:
    frames = stream_frames(content, stop, metadata="nometadata" not in tokens)
    if "exception-first" in tokens:
        frames = [exception_frame("throttlingException", "Too many tokens, please wait.")]
    elif "midstream-throttling" in tokens:
        frames = [*frames[:2], exception_frame("throttlingException", "Too many tokens.")]
    elif "badcrc" in tokens:
        broken = bytearray(frames[1])
        broken[-1] ^= 0xFF
        frames = [frames[0], bytes(broken), *frames[2:]]
    elif "cut" in tokens:
        frames = [*frames[:2], frames[2][:9]]
    elif "unknown-event" in tokens:
        frames.insert(1, event_frame("someFutureEvent", {"x": 1}))
    response = web.StreamResponse(
        headers={"content-type": EVENT_STREAM, "x-amzn-RequestId": secrets.token_hex(16)}
    )
    await response.prepare(request)
    for frame in frames:  # each frame in two writes: the decoder must join partial frames
        half = len(frame) // 2
        await response.write(frame[:half])
        await response.write(frame[half:])
    await response.write_eof()
    return response


def make_app(keys: dict[str, str] | None = None) -> web.Application:
    app = web.Application()
    app[SEEN] = set()
    app[REQUESTS] = []
    app[KEYS] = dict(keys or {ACCESS_KEY_ID: SECRET_ACCESS_KEY})
    app.router.add_post("/model/{model}/{action}", handle)
    return app

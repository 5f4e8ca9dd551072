"""Execute a plan: walk the strategy tree, retry leaves with backoff, keep every attempt.

Groups ask their strategy for an order and whether a failure moves on; leaves retry on
``retry.on_status_codes`` with exponential backoff and full jitter, honouring Retry-After
when asked (a wait over ``RETRY_AFTER_CAP`` seconds is not waited: the target fails over).
"""

from __future__ import annotations

import asyncio
import base64
import random
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from portkey.cache.response import CachedResponse
from portkey.errors import (
    AllTargetsFailed,
    Attempt,
    AuthFailed,
    GatewayError,
    UpstreamBadResponse,
    UpstreamTimeout,
)
from portkey.formats.sse_events import SSEFramer, wants_usage
from portkey.gateway.ingress import Call
from portkey.gateway.plan import Group, Leaf, Node, Plan, leaves
from portkey.gateway.prepare import Prepared, prepare
from portkey.gateway.streaming import error_payload, first_event, is_done
from portkey.gateway.streaming import read_first_block as read_first
from portkey.guardrails.errors import GuardrailBlocked
from portkey.guardrails.runner import check_answer, check_request
from portkey.observe.hook import NullObserver, Observer
from portkey.providers.base import EMBEDDINGS, SignRequest, StreamDecoder
from portkey.transport.http import Transport, UpstreamResponse

if TYPE_CHECKING:
    from portkey.cache.service import CacheService

RETRY_AFTER_CAP = 60.0
BACKOFF_BASE = 0.1
BACKOFF_MAX = 8.0


@dataclass(slots=True)
class Answer:
    """A successful upstream answer (for streams: opened, first events already read)."""

    leaf: Leaf
    response: UpstreamResponse
    body: bytes  # whole body, or the first block of events for a stream
    strip_usage: bool = False
    chunks: AsyncIterator[bytes] | None = None
    framer: SSEFramer | None = None
    done: bool = False
    #: served from the response cache (no upstream call, nothing to charge)
    cached: bool = False
    #: the status to answer with when not the upstream's (246: a guardrail flagged it)
    status: int | None = None


#: called once a stream's upstream answered 200, before its first event is read
OnStreamOpen = Callable[[Leaf, UpstreamResponse], Awaitable[None]]


class Gatekeeper(Protocol):
    """The control plane's hooks (``portkey.control.gate.Gate``): auth, limits, budgets."""

    async def admit(self, call: Call, plan: Plan) -> None: ...

    async def before_attempt(self, leaf: Leaf, call: Call) -> None: ...

    def finish(self, call: Call, leaf: Leaf | None, usage: dict[str, Any] | None) -> None: ...

    async def other_secret(self, leaf: Leaf) -> Leaf | None:
        """The same target with its virtual key's other secret (during a rotation)."""
        ...


class Router:
    def __init__(
        self,
        transport: Transport,
        unsupported_params: str = "warn",
        gate: Gatekeeper | None = None,
        cache: CacheService | None = None,
    ) -> None:
        self.transport = transport
        self.policy = unsupported_params
        self.gate = gate
        self.cache = cache
        #: logs, metrics, cost (portkey.observe); told once per request by the app
        self.observer: Observer = NullObserver()

    async def run(self, plan: Plan, call: Call, on_open: OnStreamOpen | None = None) -> Answer:
        """Admit (control plane), answer from the cache or the targets, settle, store."""
        gate = self.gate
        if gate is not None:
            await gate.admit(call, plan)
        try:
            answer = None
            if self.cache is not None:
                answer = await self._from_cache(plan, call, on_open)
            if answer is None:
                answer = await self._run(plan, call, on_open)
        except BaseException:
            if gate is not None:
                gate.finish(call, None, None)
            raise
        if not call.stream:
            if gate is not None and call.control is not None:
                gate.finish(call, None if answer.cached else answer.leaf, usage_of(answer.body))
            if self.cache is not None and not answer.cached:
                self.cache.store(call, answer.leaf, answer.body)
        return answer

    async def _from_cache(
        self, plan: Plan, call: Call, on_open: OnStreamOpen | None
    ) -> Answer | None:
        assert self.cache is not None
        first = leaves(plan.root)[0]
        if first.guard is not None and first.guard.before:  # never answer what a guard refuses
            try:
                await check_request(first.guard, call, self.transport)
            except GuardrailBlocked:  # judged once: the target answers it (and may fall back)
                return None
        entry = await self.cache.lookup(call, plan)
        if entry is None:
            return None
        leaf = leaves(plan.root)[0]
        response = CachedResponse()
        if call.stream and on_open is not None:
            await on_open(leaf, response)
        return Answer(leaf, response, entry.body, strip_usage=call.stream and not wants_usage(call.body),
                      done=True, cached=True)  # fmt: skip

    async def _run(self, plan: Plan, call: Call, on_open: OnStreamOpen | None) -> Answer:
        outcome = await self._node(plan.root, call, on_open, False)
        if isinstance(outcome, Answer):
            return outcome
        if len(call.attempts) > 1 and not isinstance(outcome, GuardrailBlocked):
            raise AllTargetsFailed(call.attempts, outcome)
        raise outcome

    async def _node(
        self, node: Node, call: Call, on_open: OnStreamOpen | None, alt: bool
    ) -> Answer | GatewayError:
        """``alt``: something else would still be tried if this node failed."""
        if isinstance(node, Leaf):
            return await self._leaf(node, call, on_open, alt)
        return await self._group(node, call, on_open, alt)

    async def _group(
        self, group: Group, call: Call, on_open: OnStreamOpen | None, alt: bool
    ) -> Answer | GatewayError:
        last: GatewayError | None = None
        order = tuple(group.strategy.order(group.children, call.facts()))
        for i, child in enumerate(order):
            outcome = await self._node(child, call, on_open, alt or i < len(order) - 1)
            if isinstance(outcome, Answer):
                return outcome
            last = outcome
            if call.disconnected or not group.strategy.falls_back(outcome.http_status):
                return outcome
        assert last is not None, "a strategy yielded no target"
        return last

    async def _leaf(
        self, leaf: Leaf, call: Call, on_open: OnStreamOpen | None, alt: bool
    ) -> Answer | GatewayError:
        retry = leaf.retry
        for attempt in range(retry.attempts + 1):
            call.retries = attempt
            started = call.attempt_started = time.perf_counter()
            try:
                last_chance = not alt and attempt == retry.attempts
                return await self._once_rotating(leaf, call, on_open, last_chance)
            except GatewayError as exc:
                error = exc
            call.attempts.append(
                Attempt(
                    target=leaf.path,
                    provider=leaf.spec.id,
                    status=error.http_status,
                    error_type=error.type,
                    message=error.message,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    started=started,
                )
            )
            if call.disconnected:
                return error
            if attempt == retry.attempts or error.http_status not in retry.on_status_codes:
                return error
            delay = backoff(attempt, error, retry.use_retry_after)
            if delay is None:
                return error
            await asyncio.sleep(delay)
            call.upstream_s += delay  # waiting on the upstream's say-so is not gateway overhead
        raise AssertionError("unreachable")

    async def _once_rotating(
        self, leaf: Leaf, call: Call, on_open: OnStreamOpen | None, last_chance: bool
    ) -> Answer:
        """One attempt; a 401 on a virtual key mid-rotation is tried once with its other secret."""
        try:
            return await self._once(leaf, call, on_open, last_chance)
        except AuthFailed:
            other = await self.gate.other_secret(leaf) if self.gate is not None else None
            if other is None:
                raise
            return await self._once(other, call, on_open, last_chance)

    async def _once(
        self, leaf: Leaf, call: Call, on_open: OnStreamOpen | None, last_chance: bool
    ) -> Answer:
        if self.gate is not None:
            await self.gate.before_attempt(leaf, call)
        if leaf.guard is not None and leaf.guard.before:
            await check_request(leaf.guard, call, self.transport)
        prepared = prepare(leaf, call, self.policy)
        if leaf.spec.sign is not None:
            prepared.headers.extend(await sign(leaf, call, prepared))
        timeout = call.timeout_override or leaf.timeout_s
        started = time.perf_counter()
        if call.stream:
            first = leaf.first_token_timeout_s or timeout
            try:
                async with asyncio.timeout(first):
                    return await self._open_stream(leaf, call, prepared, on_open, last_chance)
            except TimeoutError as exc:
                raise UpstreamTimeout(
                    f"no first event from {leaf.spec.id} within {first:g}s"
                ) from exc
            finally:
                call.upstream_s += time.perf_counter() - started
        try:
            response = await self.transport.send(
                "POST", prepared.url, prepared.headers, prepared.body, timeout
            )
            body = await response.read()
        finally:
            call.upstream_s += time.perf_counter() - started
        if 200 <= response.status < 300:
            if leaf.spec.format.parse_response is not None:
                body = translate_answer(leaf, call.route, body, prepared.canonical or {})
            else:
                check_json_answer(body)
            if leaf.guard is None and call.guard is None:
                return Answer(leaf, response, body)
            body, status = await check_answer(leaf.guard, call, body, self.transport)
            return Answer(leaf, response, body, status=status)
        raise classify(leaf, response.status, body, response)

    async def _open_stream(
        self,
        leaf: Leaf,
        call: Call,
        prepared: Prepared,
        on_open: OnStreamOpen | None,
        last_chance: bool,
    ) -> Answer:
        """Open a stream and check its first event.

        Response headers go out as soon as the upstream answers when nothing else would be
        tried on failure (``last_chance``); otherwise after the first event proved good, so
        the x-portkey-* headers always name the target that really answers.
        """
        response = await self.transport.send("POST", prepared.url, prepared.headers, prepared.body)
        if response.status != 200:
            body = await response.read()
            raise classify(leaf, response.status, body, response)
        if _is_json(response):  # a JSON answer (e.g. 200 carrying an error) is no stream
            check_json_answer(await response.read())
            raise UpstreamBadResponse(
                f"{leaf.spec.id} answered a stream request with JSON", code="not_a_stream"
            )
        call.upstream = response
        try:
            if on_open is not None and last_chance:
                await on_open(leaf, response)
            chunks = response.iter_chunks()
            if prepared.canonical is not None and leaf.spec.format.stream_decoder is not None:
                decoder = leaf.spec.format.stream_decoder(call.route, prepared.canonical)
                chunks = decoded(chunks, decoder)
            framer = SSEFramer()
            block = await read_first(chunks, framer)
        except BaseException:
            response.close()
            raise
        event = first_event(block)
        if not block.strip() or event.startswith(b"data: [DONE]"):
            response.close()
            raise UpstreamBadResponse(
                f"{leaf.spec.id} returned an empty stream", code="empty_stream"
            )
        err = error_payload(event)
        if err is not None:
            response.close()
            raise UpstreamBadResponse(
                f"{leaf.spec.id} stream began with an error: {err.get('message', err)}",
                code="stream_error",
            )
        if on_open is not None and not last_chance:
            try:
                await on_open(leaf, response)
            except BaseException:
                response.close()
                raise
        return Answer(
            leaf, response, block, prepared.strip_usage, chunks, framer, done=is_done(block)
        )


async def sign(leaf: Leaf, call: Call, prepared: Prepared) -> list[tuple[str, str]]:
    assert leaf.spec.sign is not None
    request = SignRequest(
        "POST",
        prepared.url,
        prepared.headers,
        prepared.body,
        leaf.api_key or call.bearer,
        leaf.options,
    )
    return await leaf.spec.sign(request)


def translate_answer(leaf: Leaf, route: str, body: bytes, request: Mapping[str, Any]) -> bytes:
    """A translating provider's 2xx answer, as an OpenAI-shaped body.

    The canonical ``request`` fills in what the native body lacks: the model's name, and
    embeddings in base64 when the client asked for them so (the openai SDK's default).
    """
    model = request.get("model")
    parse = leaf.spec.format.parse_response
    assert parse is not None
    try:
        wire = orjson.loads(body)
        if not isinstance(wire, dict):
            raise TypeError("not a JSON object")
        answer = parse(route, wire)
        if not answer.get("model") and isinstance(model, str):
            answer["model"] = model
        if route == EMBEDDINGS and request.get("encoding_format") == "base64":
            embeddings_to_base64(answer)
        return orjson.dumps(answer)
    except GatewayError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise UpstreamBadResponse(
            f"{leaf.spec.id} sent an answer that cannot be read: {exc}"
        ) from exc


def embeddings_to_base64(answer: dict[str, Any]) -> None:
    """OpenAI's base64 encoding: little-endian float32, base64-encoded, per embedding."""
    for item in answer.get("data") or ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            packed = struct.pack(f"<{len(vector)}f", *vector)
            item["embedding"] = base64.b64encode(packed).decode("ascii")


async def decoded(chunks: AsyncIterator[bytes], decoder: StreamDecoder) -> AsyncIterator[bytes]:
    """Upstream bytes in, OpenAI SSE events out; a decoding failure is an upstream error."""
    try:
        async for chunk in chunks:
            out = decoder.feed(chunk)
            if out:
                yield out
        tail = decoder.close()
    except GatewayError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise UpstreamBadResponse(f"cannot decode the upstream stream: {exc}") from exc
    if tail:
        yield tail


def _is_json(response: UpstreamResponse) -> bool:
    content_type = response.header("content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def check_json_answer(body: bytes) -> None:
    """A 2xx must be a JSON object that is not an error; else the target failed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamBadResponse(f"upstream sent invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UpstreamBadResponse("upstream sent JSON that is not an object")
    err = data.get("error")
    if err:
        message = err.get("message", err) if isinstance(err, dict) else err
        raise UpstreamBadResponse(f"upstream answered 200 with an error: {message}")


def classify(leaf: Leaf, status: int, body: bytes, response: UpstreamResponse) -> GatewayError:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    retry_after = retry_after_seconds(response)
    named = leaf.spec.error_type_header
    kind = response.header(named) if named else None
    if kind:  # e.g. Bedrock's x-amzn-ErrorType: the classifier reads it as the body's __type
        parsed = {**(parsed if isinstance(parsed, dict) else {}), "__type": kind}
    error = leaf.spec.classify_error(
        status, parsed if isinstance(parsed, dict) else None, retry_after
    )
    if retry_after is not None:  # else keep a delay the classifier read from the body
        error.retry_after = retry_after
    return error


def retry_after_seconds(response: UpstreamResponse) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        value = response.header(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                pass
    value = response.header("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, error: GatewayError, use_retry_after: bool) -> float | None:
    """Seconds to wait before the next try; None means do not retry this target."""
    if use_retry_after and error.retry_after is not None:
        return None if error.retry_after > RETRY_AFTER_CAP else error.retry_after
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)


def usage_of(body: bytes) -> dict[str, Any] | None:
    """The ``usage`` object of a JSON answer, if it has one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    usage = data.get("usage") if isinstance(data, dict) else None
    return usage if isinstance(usage, dict) else None

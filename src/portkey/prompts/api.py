"""Admin routes for prompts: versions (immutable), labels, partials, diffs, A/B results."""

from __future__ import annotations

import asyncio
import difflib
import re
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from portkey.control.api.deps import Admin
from portkey.errors import InvalidRequest, NotFound, StoreUnavailable
from portkey.prompts import ab
from portkey.prompts.registry import PromptVersion
from portkey.prompts.service import PromptService
from portkey.prompts.settings import LABEL, PROMPT_ID, PromptContent
from portkey.prompts.template import TemplateError, check

router = APIRouter(tags=["prompts"], dependencies=[Admin])


class VersionIn(PromptContent):
    labels: list[str] = Field(default_factory=list)
    note: str | None = None


class LabelIn(BaseModel):
    version: int = Field(ge=1)


class PartialIn(BaseModel):
    content: str


def _service(request: Request) -> PromptService:
    service: PromptService | None = request.app.state.gateway.prompts
    if service is None:
        raise StoreUnavailable("the prompt registry is not started yet")
    return service


def _name(value: str, pattern: str, what: str) -> str:
    if not re.fullmatch(pattern, value):
        raise InvalidRequest(f"invalid {what} {value!r}", param=what)
    return value


def _version_json(v: PromptVersion) -> dict[str, Any]:
    return {"version": v.version, "created_at": v.created_at, "note": v.note,
            **v.content.model_dump(exclude_none=True)}  # fmt: skip


def _versions(service: PromptService, prompt_id: str) -> dict[int, PromptVersion]:
    versions = service.registry.versions.get(prompt_id)
    if not versions:
        raise NotFound(f"no prompt {prompt_id!r}", param="prompt_id")
    return versions


@router.get("/prompts")
async def list_prompts(request: Request) -> list[dict[str, Any]]:
    service = _service(request)
    return [service.describe(p) for p in sorted(service.registry.versions)]


@router.get("/prompts/{prompt_id}")
async def get_prompt(prompt_id: str, request: Request) -> dict[str, Any]:
    service = _service(request)
    versions = _versions(service, prompt_id)
    return {**service.describe(prompt_id),
            "versions": [_version_json(versions[n]) for n in sorted(versions)]}  # fmt: skip


@router.post("/prompts/{prompt_id}/versions", status_code=201)
async def add_version(prompt_id: str, body: VersionIn, request: Request) -> dict[str, Any]:
    """A new immutable version (the same content as the newest one stores nothing new)."""
    service = _service(request)
    _name(prompt_id, PROMPT_ID, "prompt_id")
    for label in body.labels:
        _name(label, LABEL, "label")
    content = PromptContent.model_validate(
        body.model_dump(exclude={"labels", "note"}, exclude_none=True)
    )
    partials = service.registry.partials
    try:
        for message in content.chat():
            check(message["content"], partials)
    except TemplateError as exc:
        raise InvalidRequest(str(exc), param="messages") from exc
    version, created = await asyncio.to_thread(
        service.store.add_version,
        prompt_id,
        content.model_dump(exclude_none=True),
        body.labels,
        body.note,
    )
    await service.refresh(force=True)
    return {"id": prompt_id, "version": version, "created": created}


@router.put("/prompts/{prompt_id}/labels/{label}")
async def set_label(prompt_id: str, label: str, body: LabelIn, request: Request) -> dict[str, Any]:
    service = _service(request)
    _name(label, LABEL, "label")
    await asyncio.to_thread(service.store.set_label, prompt_id, label, body.version)
    await service.refresh(force=True)
    return service.describe(prompt_id)


@router.delete("/prompts/{prompt_id}/labels/{label}", status_code=204)
async def delete_label(prompt_id: str, label: str, request: Request) -> Response:
    service = _service(request)
    await asyncio.to_thread(service.store.delete_label, prompt_id, label)
    await service.refresh(force=True)
    return Response(status_code=204)


@router.get("/prompts/{prompt_id}/diff")
async def diff(
    prompt_id: str,
    request: Request,
    from_version: int = Query(alias="from", ge=1),
    to_version: int = Query(alias="to", ge=1),
) -> dict[str, Any]:
    """A unified diff of the two versions' messages, and what changed in model and params."""
    versions = _versions(_service(request), prompt_id)
    missing = [n for n in (from_version, to_version) if n not in versions]
    if missing:
        raise NotFound(f"prompt {prompt_id!r} has no version {missing[0]}", param="version")
    a, b = versions[from_version].content, versions[to_version].content

    def lines(c: PromptContent) -> list[str]:
        return [f"[{m['role']}] {line}" for m in c.chat() for line in m["content"].splitlines()]

    text = "\n".join(difflib.unified_diff(lines(a), lines(b), f"v{from_version}", f"v{to_version}",
                                          lineterm=""))  # fmt: skip
    keys = sorted(set(a.params) | set(b.params))
    params = {
        k: [a.params.get(k), b.params.get(k)] for k in keys if a.params.get(k) != b.params.get(k)
    }
    changes: dict[str, Any] = {"params": params}
    if a.model != b.model:
        changes["model"] = [a.model, b.model]
    same = orjson.dumps(a.model_dump()) == orjson.dumps(b.model_dump())
    return {"id": prompt_id, "from": from_version, "to": to_version, "identical": same,
            "diff": text, "changes": changes}  # fmt: skip


@router.put("/prompt-partials/{name}")
async def put_partial(name: str, body: PartialIn, request: Request) -> dict[str, Any]:
    service = _service(request)
    _name(name, PROMPT_ID, "name")
    try:
        check(body.content, {**service.registry.partials, name: body.content})
    except TemplateError as exc:
        raise InvalidRequest(str(exc), param="content") from exc
    changed = await asyncio.to_thread(service.store.put_partial, name, body.content)
    await service.refresh(force=True)
    return {"name": name, "changed": changed}


@router.get("/prompts/{prompt_id}/ab")
async def ab_results(
    prompt_id: str, request: Request, since_s: float = Query(default=86_400, gt=0, le=90 * 86_400)
) -> dict[str, Any]:
    """Per variant (label, version): requests, errors, latency, cost, feedback mean ± 95% CI."""
    service = _service(request)
    return await asyncio.to_thread(ab.results, service.store, prompt_id, since_s)

"""The prompt service of a running gateway: applies portkey.yaml, follows the store.

On start it stores the file's prompts and partials (new versions only where the content
changed), loads the registry into memory and then polls the store's prompt revision every
``store.refresh_interval_s``; admin writes refresh this replica at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from portkey.config.models import PortkeyFile
from portkey.prompts.registry import Registry
from portkey.prompts.store import PromptStore
from portkey.store.db import Database

log = logging.getLogger("portkey.prompts")


def apply_file(store: PromptStore, file: PortkeyFile) -> list[tuple[str, int]]:
    """Store the file's partials and prompts; returns the (prompt, version) created now."""
    for name, text in file.prompt_partials.items():
        store.put_partial(name, text)
    created = []
    for prompt_id, spec in file.prompts.items():
        content = spec.content().model_dump(exclude_none=True)
        version, new = store.add_version(prompt_id, content, spec.labels, "portkey.yaml")
        if new:
            created.append((prompt_id, version))
    return created


class PromptService:
    def __init__(self, store: PromptStore, file: PortkeyFile, interval_s: float) -> None:
        self.store = store
        self.file = file
        self.interval_s = interval_s
        self.registry = Registry()
        self.applied = False  # the file's prompts are in the store
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, file: PortkeyFile, db: Database) -> PromptService:
        """Never fails the gateway's start: with the store down it retries while it polls."""
        service = cls(PromptStore(db), file, file.store.refresh_interval_s)
        try:
            await service.reconfigure(file)
        except Exception as exc:  # e.g. StoreUnavailable: serve no prompts until it is back
            log.warning("prompts: the store is unavailable, will retry: %s", exc)
        loop = asyncio.get_running_loop()
        service._task = loop.create_task(service._follow())  # awaited in close()
        return service

    async def reconfigure(self, file: PortkeyFile) -> None:
        """On start and after a reload: store what changed in the file, then serve it."""
        self.file = file
        self.applied = False
        created = await asyncio.to_thread(apply_file, self.store, file)
        if created:
            log.info("prompts: stored new versions %s", created)
        self.applied = True
        await self.refresh(force=True)

    async def reload(self, file: PortkeyFile) -> None:
        """``reconfigure`` for the reload hook: a store outage is logged, then retried."""
        try:
            await self.reconfigure(file)
        except Exception as exc:
            log.warning("prompts: cannot store the reloaded prompts yet, will retry: %s", exc)

    async def refresh(self, force: bool = False) -> None:
        revision = await asyncio.to_thread(self.store.revision)
        if force or revision != self.registry.revision:
            state = await asyncio.to_thread(self.store.load)
            self.registry = Registry.build(state, self.file.prompts)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if self.applied:
                    await self.refresh()
                else:
                    await self.reconfigure(self.file)
            except Exception as exc:  # the store is down: keep serving the last registry
                log.warning("prompts: cannot refresh from the store: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self, prompt_id: str) -> dict[str, Any]:
        versions = self.registry.versions.get(prompt_id, {})
        return {"id": prompt_id, "labels": self.registry.labels.get(prompt_id, {}),
                "versions": sorted(versions)}  # fmt: skip

"""The control plane in a running gateway: opens the store, keeps a snapshot, follows changes.

Every replica polls the store's revision (one tiny query every ``refresh_interval_s``); when
it moved, the replica reads the state once, swaps its snapshot and rebuilds its routing
runtime with the stored virtual keys and configs. When the database is down the gateway
keeps serving from the last snapshot and ``/ready`` reports ``degraded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from pydantic import ValidationError

from portkey.config.models import ProviderEntry, StoreSettings
from portkey.config.routing import RoutingConfig
from portkey.control.crypto import load_keyring
from portkey.control.snapshot import Snapshot, load_snapshot
from portkey.control.store import ControlStore, Credential
from portkey.errors import GatewayError
from portkey.gateway.compiler import CompileError, compile_config
from portkey.gateway.runtime import Overlay, RuntimeHolder
from portkey.store.db import open_database, redact_url

log = logging.getLogger("portkey.control")

DATABASE_URL_ENV = "PORTKEY_DATABASE_URL"
DATA_DIR_ENV = "PORTKEY_DATA_DIR"


def data_dir() -> Path:
    given = os.environ.get(DATA_DIR_ENV)
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "portkey"


def database_url(settings: StoreSettings) -> str:
    return (
        os.environ.get(DATABASE_URL_ENV) or settings.url or f"sqlite:///{data_dir() / 'portkey.db'}"
    )


def open_store(settings: StoreSettings) -> ControlStore:
    """Open, migrate and check the master key (blocking). MasterKeyError: refuse to start."""
    store = ControlStore(open_database(database_url(settings)), load_keyring(data_dir()))
    store.start()
    return store


def provider_entry(cred: Credential) -> ProviderEntry:
    data: dict[str, object] = {"provider": cred.provider, **cred.options}
    if cred.api_key:
        data["api_key"] = cred.api_key
    if cred.custom_host:
        data["custom_host"] = cred.custom_host
    return ProviderEntry.model_validate(data)


class ControlPlane:
    def __init__(self, holder: RuntimeHolder, store: ControlStore | None = None) -> None:
        self.holder = holder
        self.store = store
        self.snapshot = Snapshot()
        #: why the plane is not in sync with the store, or None
        self.degraded: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def settings(self) -> StoreSettings:
        return self.holder.current.file.store

    async def start(self) -> None:
        if self.store is None:
            self.store = await asyncio.to_thread(open_store, self.settings)
        await self.refresh(force=True)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.store is not None:
            await asyncio.to_thread(self.store.db.close)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception:  # never let the follower die: log and keep the last snapshot
                log.exception("control plane refresh failed")

    async def refresh(self, force: bool = False) -> bool:
        """Reload the snapshot when the store changed; True when something was applied."""
        store = self.store
        if store is None:
            return False
        async with self._lock:
            try:
                revision = await asyncio.to_thread(store.revision)
                if not force and revision == self.snapshot.revision:
                    self._recovered()
                    return False
                snapshot = await asyncio.to_thread(load_snapshot, store)
            except GatewayError as exc:
                if self.degraded is None:
                    log.error(
                        "control store %s unreachable, serving from memory: %s",
                        redact_url(store.db.url),
                        exc.message,
                    )
                self.degraded = f"store unreachable: {exc.message}"
                return False
            self.apply(snapshot)
            self._recovered()
            return True

    def _recovered(self) -> None:
        if self.degraded is not None:
            log.warning("control store reachable again")
            self.degraded = None

    def apply(self, snapshot: Snapshot) -> None:
        """Swap the snapshot and rebuild routing with the stored keys and configs."""
        self.holder.set_overlay(self.overlay(snapshot))
        self.snapshot = snapshot

    def overlay(self, snapshot: Snapshot) -> Overlay:
        providers: dict[str, ProviderEntry] = {}
        for name, cred in snapshot.credentials.items():
            try:
                providers[name] = provider_entry(cred)
            except ValidationError as exc:
                log.error("stored virtual key %r is unusable, skipped: %s", name, exc)
        base = self.holder.current.base or self.holder.current.file
        merged = base.model_copy(update={"providers": {**base.providers, **providers}})
        configs: dict[str, RoutingConfig] = {}
        for name, body in snapshot.configs.items():
            try:
                config = RoutingConfig.model_validate(body)
                compile_config(config, merged)
            except (ValidationError, CompileError) as exc:
                log.error("stored config %r does not compile, skipped: %s", name, exc)
                continue
            configs[name] = config
        return Overlay(providers=providers, configs=configs)

"""Admin routes: virtual keys (provider credentials, encrypted; only masked hints come back)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from portkey.control.api.deps import ACTOR, Admin, Service, call, write
from portkey.control.models import Rotation, VirtualKeyIn, VirtualKeyOut, VirtualKeyUpdate
from portkey.control.validation import virtual_key_entry

router = APIRouter(tags=["virtual keys"], dependencies=[Admin])


@router.get("/virtual-keys", response_model=list[VirtualKeyOut])
async def list_virtual_keys(control: Service) -> list[VirtualKeyOut]:
    return await call(control, control.store.list_virtual_keys)


@router.post("/virtual-keys", response_model=VirtualKeyOut, status_code=201)
async def create_virtual_key(spec: VirtualKeyIn, control: Service) -> VirtualKeyOut:
    virtual_key_entry(spec)
    return await write(control, control.store.create_virtual_key, spec, ACTOR)


@router.get("/virtual-keys/{name}", response_model=VirtualKeyOut)
async def get_virtual_key(name: str, control: Service) -> VirtualKeyOut:
    return await call(control, control.store.get_virtual_key, name)


@router.patch("/virtual-keys/{name}", response_model=VirtualKeyOut)
async def update_virtual_key(
    name: str, change: VirtualKeyUpdate, control: Service
) -> VirtualKeyOut:
    current = await call(control, control.store.get_virtual_key, name)
    options = change.options if change.options is not None else current.options
    virtual_key_entry(
        VirtualKeyIn(
            name=name,
            provider=current.provider,
            options=options,
            custom_host=change.custom_host or current.custom_host,
        )
    )
    return await write(control, control.store.update_virtual_key, name, change, ACTOR)


@router.post("/virtual-keys/{name}/rotate", response_model=VirtualKeyOut)
async def rotate_virtual_key(name: str, rotation: Rotation, control: Service) -> VirtualKeyOut:
    """Start a rotation (the new secret serves at once; the old one answers 401 fallbacks) or
    finish it (``{"finish": true}`` drops the old one)."""
    return await write(control, control.store.rotate_virtual_key, name, rotation, ACTOR)


@router.delete("/virtual-keys/{name}", status_code=204)
async def delete_virtual_key(name: str, control: Service) -> Response:
    await write(control, control.store.delete_virtual_key, name, ACTOR)
    return Response(status_code=204)

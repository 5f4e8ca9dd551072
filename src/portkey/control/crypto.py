"""Secrets at rest: AES-256-GCM under a master key, each ciphertext tagged with its key id.

A stored secret reads ``v1:<key id>:<base64url(nonce | ciphertext+tag)>``. The key id is the
first 8 hex digits of SHA-256 of the key, so ``rotate-master-key`` can re-encrypt under a new
key while the keyring still holds the old one. The master key comes from
``PORTKEY_MASTER_KEY`` (base64 of 32 bytes), else ``PORTKEY_MASTER_KEY_FILE``, else a key file
in the data directory that the embedded default creates on first start (mode 0600). Previous
keys, for reading during a rotation, come from ``PORTKEY_MASTER_KEY_PREVIOUS`` (comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("portkey.control")

MASTER_KEY_ENV = "PORTKEY_MASTER_KEY"
MASTER_KEY_FILE_ENV = "PORTKEY_MASTER_KEY_FILE"
PREVIOUS_KEYS_ENV = "PORTKEY_MASTER_KEY_PREVIOUS"
PREFIX = "v1"


class MasterKeyError(ValueError):
    """A master key that is missing, malformed, or not the one the store was written with."""


def generate_key() -> str:
    """A new master key, as PORTKEY_MASTER_KEY expects it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(
            f"{source}: a master key is 32 random bytes in base64 "
            "(make one with `portkey admin gen-master-key`)"
        )
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current key (encrypts) and older keys (decrypt only)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext.encode(), context.encode())
        blob = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{PREFIX}:{self.current_id}:{blob}"

    def decrypt(self, token: str, context: str = "") -> str:
        """Decrypt or raise MasterKeyError; never returns garbage (GCM authenticates)."""
        try:
            version, kid, blob = token.split(":", 2)
            raw = base64.urlsafe_b64decode(blob)
        except (ValueError, binascii.Error) as exc:
            raise MasterKeyError("stored secret is not in the expected format") from exc
        if version != PREFIX:
            raise MasterKeyError(f"stored secret has unknown format {version!r}")
        for key in (self.current, *self.previous):
            if key_id(key) != kid:
                continue
            try:
                return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
            except InvalidTag as exc:
                raise MasterKeyError(f"secret under key {kid} failed authentication") from exc
        raise MasterKeyError(
            f"secret was written under master key {kid}, which is not in the keyring "
            f"(current key is {self.current_id}; set {PREVIOUS_KEYS_ENV} during a rotation)"
        )

    def needs_rewrap(self, token: str) -> bool:
        return token.split(":", 2)[1:2] != [self.current_id]


def mask(secret: str) -> str:
    """What the admin API and CLI show of a secret: ``sk-...abcd``."""
    if len(secret) <= 8:
        return "..." + secret[-2:] if len(secret) > 4 else "***"
    head = secret.split("-", 1)[0] + "-" if "-" in secret[:8] else secret[:2]
    return f"{head}...{secret[-4:]}"


def load_keyring(data_dir: Path) -> Keyring:
    """The keyring from the environment, else the data directory's key file (created once)."""
    previous = tuple(
        parse_key(k, PREVIOUS_KEYS_ENV)
        for k in os.environ.get(PREVIOUS_KEYS_ENV, "").split(",")
        if k.strip()
    )
    text = os.environ.get(MASTER_KEY_ENV)
    if text:
        return Keyring(parse_key(text, MASTER_KEY_ENV), previous)
    file = os.environ.get(MASTER_KEY_FILE_ENV)
    path = Path(file) if file else data_dir / "master.key"
    if not path.exists():
        if file:
            raise MasterKeyError(f"{MASTER_KEY_FILE_ENV}: {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_key() + "\n")
        log.warning(
            "generated a master key at %s: back it up; set %s in production", path, MASTER_KEY_ENV
        )
    return Keyring(parse_key(path.read_text(), str(path)), previous)

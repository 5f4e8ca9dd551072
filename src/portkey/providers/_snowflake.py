"""Snowflake REST auth and errors, shared by the Cortex providers: PAT or key-pair JWT by options.

Auth is a table of modes: the first whose options are all set signs the request. Key-pair mode
mints an RS256 JWT (iss ``ACCOUNT.USER.SHA256:<fingerprint>``, sub ``ACCOUNT.USER``, at most an
hour long) and keeps it until five minutes before it expires; otherwise the target's api_key is
sent as a programmatic access token.
https://docs.snowflake.com/en/developer-guide/sql-api/authenticating
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from portkey.errors import (
    AuthFailed,
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from portkey.providers.base import Json, ProviderOption, SignRequest

BASE_URL = "https://{snowflake_account}.snowflakecomputing.com"
TOKEN_TYPE_HEADER = "X-Snowflake-Authorization-Token-Type"
#: Snowflake refuses key-pair JWTs that live longer than one hour
JWT_LIFETIME_S = 3540
JWT_REFRESH_S = 300

OPTIONS = (
    ProviderOption(
        "snowflake_account",
        doc="account identifier, e.g. myorg-myacct (the host's first label)",
    ),
    ProviderOption("snowflake_user", doc="login name, for key-pair (JWT) auth"),
    ProviderOption("snowflake_private_key", doc="PEM private key text, e.g. ${SNOWFLAKE_KEY}"),
    ProviderOption("snowflake_private_key_passphrase", doc="passphrase of an encrypted key"),
)


def build_url(base: str, path: str, options: Mapping[str, str]) -> str:
    root = base
    for name, value in options.items():  # by name only: never str.format on config text
        root = root.replace("{" + name + "}", value)
    return root.rstrip("/") + path


# -- auth ------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_private_key(pem: str, passphrase: str | None = None) -> rsa.RSAPrivateKey:
    text = pem if "\n" in pem else pem.replace("\\n", "\n")  # one-line env values
    try:
        key = serialization.load_pem_private_key(
            text.strip().encode(), passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise AuthFailed(
            f"snowflake_private_key is not a readable PEM private key: {exc}",
            param="snowflake_private_key",
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthFailed("snowflake key-pair auth needs an RSA key", param="snowflake_private_key")
    return key


def public_key_fingerprint(key: rsa.RSAPrivateKey) -> str:
    """``SHA256:<base64 of the SHA-256 of the public key's DER>``, as Snowflake shows it."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def qualified_user(account: str, user: str) -> str:
    """``ACCOUNT.USER``: the account without any region or privatelink suffix, upper case."""
    return f"{account.split('.', 1)[0].upper()}.{user.upper()}"


def make_jwt(account: str, user: str, key: rsa.RSAPrivateKey, now: float) -> tuple[str, int]:
    """A signed key-pair JWT and its expiry (epoch seconds)."""
    subject = qualified_user(account, user)
    issued = int(now)
    expires = issued + JWT_LIFETIME_S
    claims = {
        "iss": f"{subject}.{public_key_fingerprint(key)}",
        "sub": subject,
        "iat": issued,
        "exp": expires,
    }
    header = _b64url(orjson.dumps({"alg": "RS256", "typ": "JWT"}))
    signing_input = f"{header}.{_b64url(orjson.dumps(claims))}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}", expires


class JwtCache:
    """Key-pair JWTs per (account, user, key), reused until shortly before they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, int]] = {}

    def token(self, options: Mapping[str, str]) -> str:
        account = options.get("snowflake_account")
        if not account:
            raise InvalidRequest(
                "snowflake key-pair auth needs snowflake_account", param="snowflake_account"
            )
        user, pem = options["snowflake_user"], options["snowflake_private_key"]
        passphrase = options.get("snowflake_private_key_passphrase")
        digest = hashlib.sha256(f"{pem}\0{passphrase or ''}".encode()).hexdigest()
        key = (account, user, digest)
        now = self._clock()
        cached = self._tokens.get(key)
        if cached is not None and cached[1] - JWT_REFRESH_S > now:
            return cached[0]
        token, expires = make_jwt(account, user, load_private_key(pem, passphrase), now)
        self._tokens[key] = (token, expires)
        return token


@dataclass(frozen=True, slots=True)
class AuthMode:
    """One way to authenticate: chosen when every option in ``needs`` is set."""

    token_type: str  # the X-Snowflake-Authorization-Token-Type value
    needs: tuple[str, ...]
    token: Callable[[JwtCache, SignRequest], str]


def _keypair_token(cache: JwtCache, request: SignRequest) -> str:
    return cache.token(request.options)


def _access_token(cache: JwtCache, request: SignRequest) -> str:
    if not request.api_key:
        raise AuthFailed(
            "snowflake needs a programmatic access token as api_key, "
            "or snowflake_user and snowflake_private_key for key-pair auth",
            param="api_key",
        )
    return request.api_key


AUTH_MODES: tuple[AuthMode, ...] = (
    AuthMode("KEYPAIR_JWT", ("snowflake_user", "snowflake_private_key"), _keypair_token),
    AuthMode("PROGRAMMATIC_ACCESS_TOKEN", (), _access_token),
)


class SnowflakeAuth:
    """The providers' ``sign`` hook; holds the JWT cache (one per provider spec)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.jwts = JwtCache(clock)

    async def __call__(self, request: SignRequest) -> list[tuple[str, str]]:
        mode = next(m for m in AUTH_MODES if all(request.options.get(n) for n in m.needs))
        token = mode.token(self.jwts, request)
        return [("Authorization", f"Bearer {token}"), (TOKEN_TYPE_HEADER, mode.token_type)]


# -- errors ----------------------------------------------------------------------------

#: phrases of Cortex messages for prompts that do not fit, and for Cortex Guard refusals
TOO_LONG = ("context window", "context length", "too long", "max tokens", "maximum context")
FILTERED = ("cortex guard", "guardrail", "content filter", "unsafe")


def classify_error(status: int, body: Json | None, retry_after: float | None) -> GatewayError:
    """Snowflake errors are ``{"message", "code", "request_id"}``; OpenAI's shape is read too."""
    source = body if isinstance(body, dict) else {}
    if isinstance(source.get("error"), dict):
        source = source["error"]
    message = str(source.get("message") or f"snowflake answered {status}")
    code = str(source.get("code") or source.get("error_code") or "") or None
    lowered = message.lower()
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=429, code=code)
    if status in (401, 403):
        return AuthFailed(message, status=status, code=code)
    if status == 408:
        return UpstreamTimeout(message, status=408)
    if status < 500 and (code == "context_length_exceeded" or _says(lowered, TOO_LONG)):
        return ContextWindowExceeded(message, status=400, code=code)
    if status < 500 and (code == "content_filter" or _says(lowered, FILTERED)):
        return ContentFiltered(message, status=400, code=code)
    return UpstreamError(message, status=status, code=code)


def _says(message: str, phrases: tuple[str, ...]) -> bool:
    return any(phrase in message for phrase in phrases)

"""Google Vertex AI: the Gemini wire format per project and region, OAuth from a service account.

The ``sign`` hook turns the service-account key (``vertex_service_account_json``) into an
access token: an RS256-signed JWT exchanged at the account's ``token_uri``
(https://developers.google.com/identity/protocols/oauth2/service-account#httprest). Tokens
are cached per account until a minute before they expire, with one refresh in flight at a
time. Without a key, the target's api_key is sent as a ready-made access token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from portkey.errors import AuthFailed
from portkey.formats.gemini import EMBEDDING_PARAMS, PARAMS, VERTEX_FORMAT, classify_error
from portkey.providers._token_cache import post_token_form
from portkey.providers.base import CHAT, EMBEDDINGS, ProviderOption, ProviderSpec, SignRequest
from portkey.providers.google import FAMILIES as GEMINI_FAMILIES

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_LIFETIME_S = 3600
REFRESH_MARGIN_S = 60.0
TOKEN_TIMEOUT_S = 10.0
#: options that are placed in the URL (each percent-quoted); the key never is
URL_OPTIONS = ("vertex_project_id", "vertex_region")
#: regions served from a host without the region label
REGION_HOSTS = {"global": "aiplatform.googleapis.com"}
REGIONAL_HOST = "{vertex_region}-aiplatform.googleapis.com"


def build_url(base: str, path: str, options: Mapping[str, str]) -> str:
    root = base
    host = REGION_HOSTS.get(options.get("vertex_region", ""))
    if host is not None:
        root = root.replace(REGIONAL_HOST, host)
    for name in URL_OPTIONS:  # by name only: never str.format on config text
        if name in options:
            root = root.replace("{" + name + "}", quote(options[name], safe=""))
    return root.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    token_uri: str
    key_id: str | None
    private_key: str = field(repr=False)


def load_account(text: str) -> ServiceAccount:
    """The fields we need from a service-account key file; errors never quote the key."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise AuthFailed("vertex_service_account_json is not valid JSON") from None
    if not isinstance(data, dict):
        raise AuthFailed("vertex_service_account_json must be a JSON object")
    email, key = data.get("client_email"), data.get("private_key")
    if not isinstance(email, str) or not isinstance(key, str) or not email or not key:
        raise AuthFailed("vertex_service_account_json needs client_email and private_key")
    token_uri = data.get("token_uri") or DEFAULT_TOKEN_URI
    key_id = data.get("private_key_id")
    return ServiceAccount(email, str(token_uri), key_id if isinstance(key_id, str) else None, key)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def signed_assertion(account: ServiceAccount, now: float) -> str:
    """The RS256 JWT a service account presents to the token endpoint."""
    try:
        key = serialization.load_pem_private_key(account.private_key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuthFailed(
            f"the private_key of service account {account.client_email} cannot be read"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthFailed(f"the private_key of service account {account.client_email} is not RSA")
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if account.key_id:
        header["kid"] = account.key_id
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": int(now),
        "exp": int(now) + JWT_LIFETIME_S,
    }
    signing_input = _b64(orjson.dumps(header)) + b"." + _b64(orjson.dumps(claims))
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode()


async def exchange(account: ServiceAccount) -> tuple[str, float]:
    """(access token, seconds it lives) from the account's token endpoint."""
    form = {"grant_type": GRANT_TYPE, "assertion": signed_assertion(account, time.time())}
    where = f"the token endpoint {account.token_uri}"
    status, answer = await post_token_form(
        "vertex-ai", where, account.token_uri, form, TOKEN_TIMEOUT_S
    )
    token = answer.get("access_token")
    if status != 200 or not isinstance(token, str) or not token:
        reason = ": ".join(str(answer[k]) for k in ("error", "error_description") if answer.get(k))
        raise AuthFailed(
            f"vertex-ai: {where} refused service account {account.client_email} "
            f"({status}{': ' + reason[:300] if reason else ''})"
        )
    lifetime = answer.get("expires_in")
    return token, float(lifetime) if isinstance(lifetime, int | float) else float(JWT_LIFETIME_S)


class TokenSource:
    """The ``sign`` hook: ``Authorization: Bearer <token>``, tokens cached per service account."""

    def __init__(self) -> None:
        #: sha256 of the key text -> (token, monotonic time it stops being used)
        self._tokens: dict[str, tuple[str, float]] = {}
        #: one lock per account per event loop (an asyncio.Lock belongs to one loop)
        self._locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, request: SignRequest) -> list[tuple[str, str]]:
        key_text = request.options.get("vertex_service_account_json")
        if key_text:
            token = await self.token(key_text)
        elif request.api_key:
            token = request.api_key
        else:
            raise AuthFailed(
                "vertex-ai needs vertex_service_account_json (a service-account key) "
                "or an OAuth access token as api_key",
                param="vertex_service_account_json",
            )
        return [("Authorization", f"Bearer {token}")]

    async def token(self, key_text: str) -> str:
        account_id = hashlib.sha256(key_text.encode()).hexdigest()
        cached = self._fresh(account_id)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, {}).setdefault(account_id, asyncio.Lock())
        async with lock:
            cached = self._fresh(account_id)  # another request refreshed it meanwhile
            if cached is not None:
                return cached
            token, lifetime = await exchange(load_account(key_text))
            self._tokens[account_id] = (token, time.monotonic() + lifetime - REFRESH_MARGIN_S)
            return token

    def _fresh(self, account_id: str) -> str | None:
        entry = self._tokens.get(account_id)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None


SPEC = ProviderSpec(
    id="vertex-ai",
    # a target's custom_host replaces this whole root (…/publishers/google)
    base_url=(
        "https://{vertex_region}-aiplatform.googleapis.com/v1/projects/{vertex_project_id}"
        "/locations/{vertex_region}/publishers/google"
    ),
    auth=None,
    sign=TokenSource(),
    requires_api_key=False,
    # no MODELS route: Vertex lists models only as Model Garden publisher models (v1beta1,
    # outside the project path), not the per-project list this route would be
    routes={CHAT: "", EMBEDDINGS: ""},
    format=VERTEX_FORMAT,
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    families=GEMINI_FAMILIES,
    options=(
        ProviderOption("vertex_project_id", required=True, doc="the Google Cloud project id"),
        ProviderOption("vertex_region", default="us-central1", doc="Vertex AI location"),
        ProviderOption(
            "vertex_service_account_json",
            doc="the service-account key file's JSON text, usually ${ENV}",
        ),
    ),
    build_url=build_url,
    classify_error=classify_error,
    docs="https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference",
)

"""Azure OpenAI auth by ``azure_auth_mode``: the ``api-key`` header, or Microsoft Entra ID tokens.

``api_key`` (the default) sends the target's key as ``api-key``; ``entra`` gets an access token
by the OAuth2 client-credentials grant (``POST {authority}/{tenant}/oauth2/v2.0/token``) and
sends ``Authorization: Bearer <token>``; tokens are cached per credential and scope until a
minute before they expire, one refresh at a time.
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from portkey.errors import AuthFailed, InvalidRequest, RateLimited
from portkey.providers._token_cache import TokenCache, post_token_form
from portkey.providers.base import ProviderOption, SignRequest

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
REFRESH_MARGIN_S = 60.0
TOKEN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class AuthMode:
    """One way to authenticate: the options it needs and the hook making its headers."""

    needs: tuple[str, ...]
    headers: Callable[[AzureAuth, SignRequest], Awaitable[list[tuple[str, str]]]]


def auth_mode(options: Mapping[str, str]) -> str:
    return options.get("azure_auth_mode") or "api_key"


def check_auth_options(options: Mapping[str, str]) -> None:
    """KeyError naming what the chosen auth mode lacks (the compiler reports it as config)."""
    mode = AUTH_MODES.get(auth_mode(options))
    if mode is None:
        raise KeyError(f"azure_auth_mode must be one of {', '.join(AUTH_MODES)}")
    for name in mode.needs:
        if not options.get(name):
            raise KeyError(name)


# -- Microsoft Entra ID ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntraClient:
    authority: str
    tenant: str
    client_id: str
    secret: str
    scope: str

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{quote(self.tenant, safe='')}/oauth2/v2.0/token"

    def cache_key(self) -> tuple[str, ...]:
        secret = hashlib.sha256(self.secret.encode()).hexdigest()  # a new secret, a new token
        return (self.authority, self.tenant, self.client_id, self.scope, secret)


def entra_client(options: Mapping[str, str]) -> EntraClient:
    for name in ENTRA_NEEDS:
        if not options.get(name):
            raise InvalidRequest(f"azure-openai entra auth needs '{name}'", param=name)
    return EntraClient(
        authority=options.get("azure_authority") or DEFAULT_AUTHORITY,
        tenant=options["azure_tenant_id"],
        client_id=options["azure_client_id"],
        secret=options["azure_client_secret"],
        scope=options.get("azure_entra_scope") or DEFAULT_SCOPE,
    )


async def exchange(client: EntraClient) -> tuple[str, float]:
    """(access token, seconds it lives) by the client-credentials grant."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.secret,
        "scope": client.scope,
    }
    where = f"the Entra ID token endpoint {client.token_url}"
    status, answer = await post_token_form(
        "azure-openai", where, client.token_url, form, TOKEN_TIMEOUT_S
    )
    if status == 429:
        raise RateLimited(f"azure-openai: {where} answered 429", status=429)
    token = answer.get("access_token")
    if status != 200 or not isinstance(token, str) or not token:
        reason = ": ".join(str(answer[k]) for k in ("error", "error_description") if answer.get(k))
        reason = reason.replace(client.secret, "***")[:300]  # never echo the secret
        raise AuthFailed(
            f"azure-openai: {where} refused client {client.client_id} in tenant "
            f"{client.tenant} ({status}{': ' + reason if reason else ''})"
        )
    lifetime = answer.get("expires_in")
    try:  # Entra sends a number; older endpoints sent a string
        seconds = float(lifetime) if isinstance(lifetime, int | float | str) else 3600.0
    except ValueError:
        seconds = 3600.0
    return token, seconds


# -- the sign hook ---------------------------------------------------------------------


class AzureAuth:
    """The provider's ``sign`` hook: headers by ``azure_auth_mode``; holds the token cache."""

    def __init__(self) -> None:
        self.tokens = TokenCache(margin_s=REFRESH_MARGIN_S)

    async def __call__(self, request: SignRequest) -> list[tuple[str, str]]:
        mode = AUTH_MODES.get(auth_mode(request.options))
        if mode is None:
            raise InvalidRequest(
                f"azure_auth_mode must be one of {', '.join(AUTH_MODES)}", param="azure_auth_mode"
            )
        return await mode.headers(self, request)


async def _api_key_headers(_auth: AzureAuth, request: SignRequest) -> list[tuple[str, str]]:
    if not request.api_key:
        raise AuthFailed(
            "no API key for provider azure-openai: send 'Authorization: Bearer <key>' "
            "or use a virtual key (or set azure_auth_mode: entra)",
            param="authorization",
        )
    return [("api-key", request.api_key)]


async def _entra_headers(auth: AzureAuth, request: SignRequest) -> list[tuple[str, str]]:
    client = entra_client(request.options)
    token = await auth.tokens.get(client.cache_key(), lambda: exchange(client))
    return [("Authorization", f"Bearer {token}")]


ENTRA_NEEDS = ("azure_tenant_id", "azure_client_id", "azure_client_secret")
AUTH_MODES: Mapping[str, AuthMode] = {
    "api_key": AuthMode((), _api_key_headers),
    "entra": AuthMode(ENTRA_NEEDS, _entra_headers),
}

OPTIONS = (
    ProviderOption("azure_auth_mode", default="api_key", doc="api_key or entra"),
    ProviderOption("azure_tenant_id", doc="Entra ID tenant (directory) id, for entra auth"),
    ProviderOption("azure_client_id", doc="app registration's client id, for entra auth"),
    ProviderOption("azure_client_secret", doc="its client secret, usually ${ENV}"),
    ProviderOption("azure_entra_scope", default=DEFAULT_SCOPE, doc="token scope"),
    ProviderOption("azure_authority", default=DEFAULT_AUTHORITY, doc="Entra ID login host"),
)

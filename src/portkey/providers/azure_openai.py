"""Azure OpenAI: OpenAI's wire format behind per-deployment URLs, ``api-key`` or Entra ID auth."""

from collections.abc import Mapping

from portkey.providers import _azure_auth
from portkey.providers._params import OPENAI_CHAT_FIELDS, OPENAI_EMBEDDING_FIELDS, openai_params
from portkey.providers.base import CHAT, COMPLETIONS, EMBEDDINGS, ProviderOption, ProviderSpec

#: options a custom_host may name as ``{option}``; credentials never are
URL_OPTIONS = ("resource_name", "deployment_id", "api_version")


def build_url(base: str, path: str, options: Mapping[str, str]) -> str:
    _azure_auth.check_auth_options(options)  # so a missing credential fails the config
    root = base
    for name in URL_OPTIONS:  # by name only: never str.format on config text
        if name in options:
            root = root.replace("{" + name + "}", options[name])
    root = root.rstrip("/")
    return (
        f"{root}/deployments/{options['deployment_id']}{path}?api-version={options['api_version']}"
    )


#: Azure refuses by name a field the api_version lacks (see the reference-preview docs)
PARAMS = openai_params(
    "Azure OpenAI",
    OPENAI_CHAT_FIELDS - {"moderation", "web_search_options"},
    dropped={"moderation"},
    rejected={"web_search_options"},
    notes={"moderation": "Azure OpenAI screens content with its own content filters"},
    passed_as="refused by name where the api_version lacks it, else taken by",
)
EMBEDDING_PARAMS = openai_params("Azure OpenAI", OPENAI_EMBEDDING_FIELDS)

SPEC = ProviderSpec(
    id="azure-openai",
    # a target's custom_host replaces this whole root, e.g. http://proxy.internal/openai
    base_url="https://{resource_name}.openai.azure.com/openai",
    auth=None,
    sign=_azure_auth.AzureAuth(),  # by azure_auth_mode: api-key header or Entra ID token
    requires_api_key=False,  # api_key mode checks for its key itself; entra mode needs none
    routes={CHAT: "/chat/completions", COMPLETIONS: "/completions", EMBEDDINGS: "/embeddings"},
    params=PARAMS,
    embedding_params=EMBEDDING_PARAMS,
    options=(
        ProviderOption("resource_name", doc="Azure resource, the host's first label"),
        ProviderOption("deployment_id", required=True, doc="the model deployment to call"),
        ProviderOption("deployments", doc="per model: 'gpt-4o=dep-a,gpt-4o-mini=dep-b'"),
        ProviderOption("api_version", default="2024-10-21", doc="Azure OpenAI api-version"),
        *_azure_auth.OPTIONS,
    ),
    build_url=build_url,
    per_model_option=("deployments", "deployment_id"),
    docs="https://learn.microsoft.com/azure/ai-services/openai/reference",
)

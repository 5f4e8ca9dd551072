"""Azure OpenAI: OpenAI's wire format behind per-deployment URLs, ``api-key`` auth."""

from collections.abc import Mapping

from portkey.providers.base import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    AuthScheme,
    ProviderOption,
    ProviderSpec,
)


def build_url(base: str, path: str, options: Mapping[str, str]) -> str:
    root = base
    for name, value in options.items():  # by name only: never str.format on config text
        root = root.replace("{" + name + "}", value)
    root = root.rstrip("/")
    return (
        f"{root}/deployments/{options['deployment_id']}{path}?api-version={options['api_version']}"
    )


SPEC = ProviderSpec(
    id="azure-openai",
    # a target's custom_host replaces this whole root, e.g. http://proxy.internal/openai
    base_url="https://{resource_name}.openai.azure.com/openai",
    auth=AuthScheme.API_KEY_HEADER,
    routes={CHAT: "/chat/completions", COMPLETIONS: "/completions", EMBEDDINGS: "/embeddings"},
    options=(
        ProviderOption("resource_name", doc="Azure resource, the host's first label"),
        ProviderOption("deployment_id", required=True, doc="the model deployment to call"),
        ProviderOption("api_version", default="2024-10-21", doc="Azure OpenAI api-version"),
    ),
    build_url=build_url,
    docs="https://learn.microsoft.com/azure/ai-services/openai/reference",
)

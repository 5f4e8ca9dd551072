"""URL allow/deny lists: every URL in the text must be on an allowed domain, none on a denied one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from portkey.guardrails.base import Check, HookContext, Verdict, str_list

URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)


def _on(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def valid_urls(params: Mapping[str, Any]) -> Check:
    """``allowed_domains`` (empty: any) and ``denied_domains``; subdomains count as the domain."""
    allowed = [d.lower().lstrip(".") for d in str_list(params, "allowed_domains")]
    denied = [d.lower().lstrip(".") for d in str_list(params, "denied_domains")]

    async def run(text: str, ctx: HookContext) -> Verdict:
        bad: list[str] = []
        for match in URL.finditer(text):
            url = match.group(0).rstrip(".,;:!?")
            try:
                host = (urlsplit(url).hostname or "").lower()
            except ValueError:
                host = ""
            if not host or _on(host, denied) or (allowed and not _on(host, allowed)):
                bad.append(url)
        return Verdict(not bad, {"invalidUrls": bad})

    return Check("default.validUrls", run, early=True)

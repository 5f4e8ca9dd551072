"""Bedrock in the conformance suite: the fake speaks Converse and checks every SigV4 signature."""

from __future__ import annotations

from typing import Any

from tests.fakes.bedrock import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, make_app
from tests.providers.conformance import Entry


def target(url: str) -> dict[str, Any]:
    return {
        "provider": "bedrock",
        "custom_host": url,
        "aws_region": REGION,
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
    }


ENTRY = Entry(provider="bedrock", make_app=make_app, target=target)

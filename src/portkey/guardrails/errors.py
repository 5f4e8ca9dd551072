"""The guardrail denial: HTTP 446 with Portkey's ``hook_results`` beside the error."""

from __future__ import annotations

from typing import Any

from portkey.errors import GatewayError

BLOCKED_STATUS = 446
FLAGGED_STATUS = 246


class GuardrailBlocked(GatewayError):
    status = BLOCKED_STATUS
    type = "hooks_failed"

    def __init__(self, hook_results: dict[str, Any], where: str) -> None:
        super().__init__(
            f"The guardrail checks defined in the config failed ({where}). "
            "You can find more information in the `hook_results` object.",
            code="hooks_failed",
        )
        self.hook_results = hook_results

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "hook_results": self.hook_results}

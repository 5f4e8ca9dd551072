"""Test upstreams. The scriptable OpenAI fake ships in the package (the demo uses it too).

Behaviour is chosen per request by the model name, e.g. ``status-503+retry-after-1``,
``flaky-2``, ``delay-300``, ``ttft-200``, ``cut-3``, ``stall-2``, ``empty``, ``error-first``,
``malformed``, ``error-200``, ``echo`` (see ``portkey.devtools._fake_scripts``).
"""

from portkey.devtools.fake_upstream import FakeUpstream, RecordedRequest

__all__ = ["FakeUpstream", "RecordedRequest"]

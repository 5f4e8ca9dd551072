"""Cache tests reuse the control tests' Redis fixture."""

from tests.control.conftest import prefix as prefix
from tests.control.conftest import redis_url as redis_url

__all__ = ["prefix", "redis_url"]

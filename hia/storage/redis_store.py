"""State that replicas share, in Redis: one connection per URL, and Lua scripts that run
atomically on the server (redis-py registers them once and calls them by hash).

Every failure to reach Redis, or of a script, is raised as SharedStateUnavailable, so callers
fail closed: a request that cannot be metered is refused, never served unmetered. Times inside
the scripts are Redis's own clock (TIME), so replicas whose clocks differ still agree.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

from hia import _defaults as D
from hia.errors import InputError, SharedStateUnavailable


def public_redis_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RedisStore:
    """A Redis server (`redis://host:port/db`, `rediss://` for TLS, `unix://path`) under a key
    prefix, with a blocking client and one asyncio client per running event loop."""

    def __init__(self, url: str, *, prefix: str = D.REDIS_PREFIX, timeout_s: float = D.REDIS_TIMEOUT_S) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError:
            raise InputError("shared state in Redis needs redis-py: pip install 'hia[redis]'") from None
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise InputError(f"a Redis URL looks like redis://host:6379/0, got {url!r}")
        self.url = public_redis_url(url)
        self.prefix = prefix
        self._redis = redis
        self._options = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
        self._full_url = url  # holds the password, if any: never printed
        self.client = redis.Redis.from_url(url, **self._options)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r})"

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _unavailable(self, exc: Exception) -> SharedStateUnavailable:
        return SharedStateUnavailable(f"the shared state in Redis at {self.url} is unavailable ({type(exc).__name__}); "
                                      "requests are refused until it is back, rather than served unmetered")

    def check(self) -> None:
        """Fail now, with the reason, if Redis cannot be reached."""
        try:
            self.client.ping()
        except self._redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def run(self, lua: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script with the blocking client."""
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = self.client.register_script(lua)
        try:
            return script(keys=list(keys), args=list(args))
        except self._redis.RedisError as exc:
            raise self._unavailable(exc) from None

    async def arun(self, lua: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a script with this event loop's asyncio client."""
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = self._redis.asyncio.Redis.from_url(self._full_url, **self._options)
        try:
            return await client.eval(lua, len(keys), *keys, *args)
        except self._redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        self.client.close()

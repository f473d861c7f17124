"""The proxy's connections: a time limit on a request's headers, and a cap per client address.

uvicorn times out idle keep-alive connections, and the app times out slow bodies (read_json),
but a client that opens a connection and never finishes its headers would hold it for ever, and
enough of them use up the process's file descriptors. This protocol (uvicorn's h11 one) closes a
connection whose next request's headers have not all arrived `header_timeout_s` after it opened
or after its last response, and refuses a client address more than `max_per_client` connections
at once, so one client cannot take every descriptor.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(header_timeout_s: float, max_per_client: int) -> type[H11Protocol]:
    """An H11Protocol class with these limits, and its own count of open connections per address."""
    open_per_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else "unknown"
            open_per_client[address] += 1
            self._counted = address
            if open_per_client[address] > max_per_client:
                transport.close()  # over the cap: closed before anything is read
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers arrived whole
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers get the same time

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                open_per_client[self._counted] -= 1
                if open_per_client[self._counted] <= 0:
                    del open_per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

    return GuardedH11Protocol

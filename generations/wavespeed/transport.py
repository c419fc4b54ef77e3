"""HTTP calls with a total deadline: connecting, sending and every read of the answer included.

requests and urllib3 only bound each socket operation: an answer dripped a byte at a time, or
headers sent one line per read timeout, can keep a call going for ever. Here each call has a
deadline, and a timer shuts the call's socket down when it passes, which ends any read in
progress at once. Per-operation timeouts are also cut to the time left, so a call that has
not connected yet cannot outlast it either.

The connection a call uses is known through the connection pool: a pool subclass tells the
calling thread's watch which connection it hands out and when it takes it back, so the timer
never touches a connection that went back to the pool for another call.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from generations.wavespeed import alarms

# A timer that fires while its call is still connecting looks again this often.
_RECHECK_SECONDS = 0.05

_current = threading.local()


class DeadlineExceeded(requests.Timeout):
    """The call ran out of time: cut before it was answered, or refused before it started."""

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class _Watch:
    """One call in flight: the connection it holds, shut down if the deadline passes first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: HTTPConnection | None = None
        self.expired = False
        self.over = False
        self._alarm: alarms.Alarm | None = None

    def arm(self, seconds: float) -> None:
        # The deadlines' one thread fires it (a thread per call cost a start on every call).
        self._alarm = alarms.call_later(seconds, self.expire)

    def hold(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection

    def let_go(self) -> None:
        with self._lock:
            self._connection = None

    def finish(self) -> None:
        with self._lock:
            self.over = True
            self._connection = None
            if self._alarm is not None:
                self._alarm.cancel()

    def expire(self) -> None:
        """The deadline passed: cut the call's connection, if it is still going."""
        with self._lock:
            if self.over:
                return
            self.expired = True
            connection = self._connection
            sock = connection.sock if connection is not None else None
            if sock is None and connection is not None:
                # Still connecting (bounded by its own timeout): cut it once it is open.
                self._alarm = alarms.call_later(_RECHECK_SECONDS, self.expire)
                return
        if sock is not None:
            # Closed already, perhaps: then the call is ending anyway.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _WatchedPoolMixin:
    """Reports the connections a pool lends to the calling thread's watch."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.hold(connection)
        return connection

    def _put_conn(self, conn: Any) -> None:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.let_go()
        super()._put_conn(conn)  # type: ignore[misc]


class _WatchedHTTPPool(_WatchedPoolMixin, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPoolMixin, HTTPSConnectionPool):
    pass


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose pools report their connections to the calling thread's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools_of(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_pools_of(manager)
        return manager


def _watch_pools_of(manager: Any) -> None:
    # A dict of its own: the default one is shared by every pool manager of the process.
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def session(headers: dict[str, str], pool_size: int) -> requests.Session:
    """A session whose calls `send` can bound; it never retries by itself."""
    built = requests.Session()
    built.headers.update(headers)
    adapter = _WatchedAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    built.mount("https://", adapter)
    built.mount("http://", adapter)
    return built


def send(
    on: requests.Session,
    method: str,
    url: str,
    *,
    deadline: float,
    connect_timeout: float,
    **kwargs: Any,
) -> requests.Response:
    """One request through `on`, answered in full by `deadline` (a `time.monotonic()` reading).

    Raises `DeadlineExceeded` when the time is up before or during the call; any other
    failure is requests' own exception.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("no time was left for the call", started=False)
    with _watching(left) as watch:
        try:
            response = on.request(method, url, timeout=(min(connect_timeout, left), left), **kwargs)
        except requests.RequestException as error:
            if watch.expired and not isinstance(error, requests.ConnectTimeout):
                raise DeadlineExceeded(
                    f"no full answer within {left:.3g} s", started=True
                ) from error
            raise
    if watch.expired:
        # A cut can read as a clean end of the headers or of a body without a length.
        response.close()
        raise DeadlineExceeded(f"no full answer within {left:.3g} s", started=True)
    return response


@contextmanager
def _watching(seconds: float) -> Iterator[_Watch]:
    watch = _Watch()
    _current.watch = watch
    watch.arm(seconds)
    try:
        yield watch
    finally:
        watch.finish()
        _current.watch = None

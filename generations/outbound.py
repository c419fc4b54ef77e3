"""Downloading an output from the address the API gave, and from nowhere else.

The address comes from an outside service, so it is treated as hostile. A download goes only
to a host (and port) on the allow-list, over https unless the policy allows plain http (the
simulator), and only to public addresses: every address the name resolves to is checked by
the connection itself, which then connects to a checked address and no other, so a name that
answers differently the second time (DNS rebinding) gains nothing. Redirects are followed by
hand, each checked the same way, at most MAX_REDIRECTS. One deadline covers the whole
transfer: a watchdog shuts the connection when it passes, so a server that drips a byte at a
time cannot stretch it. No proxy, cookie or credential is ever used or sent.

No Django here: `provider.output_policy()` builds the policy from settings.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from requests.certs import where as default_ca_bundle
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as TransportError
from urllib3.response import HTTPResponse

from generations.wavespeed import alarms

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Longest wait for one connection, and for one read, within the download's own deadline.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
CHUNK_SIZE = 64 * 1024
HEADERS = {
    "User-Agent": "kontext-playground",
    "Accept": "image/png, image/jpeg, image/webp",
    # The body is counted against the size limit as it arrives, so it must not expand after.
    "Accept-Encoding": "identity",
    "Connection": "close",
}

# The one answer users get for every refusal: which rule refused, and what the address
# resolved to, would map the inside of the network; staff read it in `detail`.
REFUSED = "The image address given by the API is not one this server downloads from."
NOT_A_WEB_ADDRESS = "The API gave an image address that is not a web address."
REDIRECTED_AWAY = "The image download was redirected to an address that is not a web address."
REDIRECT_LOOP = "The image download was redirected in a loop."
TOO_MANY_REDIRECTS = f"The image download was redirected more than {MAX_REDIRECTS} times."
REDIRECT_NOWHERE = "The image download was redirected without an address to go to."
TOO_LARGE = "The image is larger than this server accepts."
TOO_SLOW = "The image download took too long."
GONE = "The image is no longer available from the API."
FAILED = "The image could not be downloaded."

# Host names as DNS has them: letters, digits, hyphens (and underscores, which some CDNs use).
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?")
# A request target a request line can carry as it is: printable ASCII, no spaces.
_REQUEST_TARGET = re.compile(r"/[\x21-\x7e]*")
# NAT64's well-known prefix: the last 32 bits are the IPv4 address actually reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_REFUSED_KINDS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DownloadError(Exception):
    """A download that did not happen: `message` for users, `detail` for staff only, and
    whether a retry can help (`permanent` is False for timeouts, 5xx and dropped connections).
    """

    def __init__(self, message: str, *, permanent: bool, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.detail = detail or message


def _refused(detail: str) -> DownloadError:
    return DownloadError(REFUSED, permanent=True, detail=f"refused: {detail}")


# --- Where downloads may go ------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedHost:
    """One allow-list entry: a host, and its one port, or None for the scheme's default."""

    host: str
    port: int | None = None


def parse_allowed_host(entry: str) -> AllowedHost:
    """An entry of WAVESPEED_OUTPUT_HOSTS: `host` or `host:port` (an IPv6 address in [])."""
    parts = urlsplit(f"//{entry.strip()}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{entry!r} has an invalid port") from None
    host = _normal_host(parts.hostname or "")
    if (
        not host
        or port == 0
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not _is_host(host)
    ):
        raise ValueError(f"{entry!r} is not a host or host:port")
    return AllowedHost(host, port)


def parse_allowed_hosts(entries: Iterable[str]) -> frozenset[AllowedHost]:
    return frozenset(parse_allowed_host(entry) for entry in entries)


@dataclass(frozen=True)
class OutboundPolicy:
    """Where a download may go: the allowed hosts, and whether plain http is refused."""

    hosts: frozenset[AllowedHost]
    https_only: bool = True
    # Certificate authorities to trust; tests name their own, everyone else requests' bundle.
    ca_certs: str | None = None

    def refusal(self, scheme: str, host: str, port: int) -> str | None:
        """Why the policy refuses this destination, or None when it allows it."""
        if self.https_only and scheme != "https":
            return f"{scheme}:// to {host} (only https is allowed outside simulator mode)"
        if self.lists_exactly(host, port):
            return None
        if port == DEFAULT_PORTS[scheme] and AllowedHost(host) in self.hosts:
            return None
        return f"{_netloc(host, port)} is not in WAVESPEED_OUTPUT_HOSTS"

    def lists_exactly(self, host: str, port: int) -> bool:
        """Whether this host:port is listed as such: then it may resolve to any address."""
        return AllowedHost(host, port) in self.hosts


def why_refused(address: IPAddress) -> str | None:
    """Why a download may not connect to this address, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # Addresses that stand for an IPv4 one are judged by the address actually reached.
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            reason = why_refused(embedded)
            return f"{reason}: {embedded}" if reason else None
        if address.sixtofour is not None and (reason := why_refused(address.sixtofour)):
            return f"{reason}: {address.sixtofour} in 6to4"
    for test, kind in _REFUSED_KINDS:
        if getattr(address, test):
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "not globally routable"
    return None


# --- The deadline ----------------------------------------------------------------------------


class _Deadline:
    """One download's end: when it passes, every connection the download opened is shut down,
    which ends a read blocked on a slow server at once instead of at its next timeout."""

    def __init__(self, seconds: float) -> None:
        self.ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._passed = False
        self._alarm = alarms.call_later(seconds, self._pass)

    @property
    def passed(self) -> bool:
        return self._passed or time.monotonic() >= self.ends_at

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut this connection down when the deadline passes."""
        # A second descriptor of the same connection: TLS detaches `sock` when it wraps it,
        # and shutting down either descriptor ends the connection for both.
        handle = sock.dup()
        with self._lock:
            self._watched.append(handle)
            if self._passed:
                _shut(handle)

    def close(self) -> None:
        self._alarm.cancel()
        with self._lock:
            for handle in self._watched:
                handle.close()
            self._watched.clear()

    def _pass(self) -> None:
        with self._lock:
            self._passed = True
            for handle in self._watched:
                _shut(handle)


def _shut(handle: socket.socket) -> None:
    with suppress(OSError):  # closed already
        handle.shutdown(socket.SHUT_RDWR)


# --- Connections that check where they connect -----------------------------------------------


@dataclass(frozen=True)
class _Guard:
    policy: OutboundPolicy
    deadline: _Deadline

    def connect(
        self, host: str, port: int, options: Iterable[tuple[int, int, int | bytes]]
    ) -> socket.socket:
        """A socket connected to a checked address of host:port; no other address is tried."""
        # Only listed names get this far, so the system resolver's own timeouts bound this
        # lookup; the watchdog takes over from the connect on.
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as failure:
            detail = f"{host} did not resolve: {failure}"
            raise DownloadError(FAILED, permanent=False, detail=detail) from None
        exempt = self.policy.lists_exactly(host, port)
        for *_, sockaddr in answers:
            address = ipaddress.ip_address(sockaddr[0])
            reason = None if exempt else why_refused(address)
            if reason:
                # One bad address refuses the name: which one a later lookup returns is the
                # name owner's choice, not ours.
                raise _refused(f"{_netloc(host, port)} resolves to {address} ({reason})")
        last_failure = OSError(f"{host} has no address")
        for family, kind, protocol, _, sockaddr in answers:
            timeout = min(CONNECT_TIMEOUT, self.deadline.remaining())
            if timeout <= 0:
                raise DownloadError(TOO_SLOW, permanent=False, detail=f"connecting to {host}")
            sock = socket.socket(family, kind, protocol)
            try:
                for option in options:
                    sock.setsockopt(*option)
                self.deadline.watch(sock)
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as failure:
                sock.close()
                last_failure = failure
                continue
            return sock
        raise last_failure


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, host: str, port: int, *, guard: _Guard, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.guard = guard

    def _new_conn(self) -> socket.socket:
        return self.guard.connect(self.host, self.port, self.socket_options or ())


class _GuardedHTTPSConnection(HTTPSConnection):
    """TLS as usual on top: the server name sent and the certificate checked are the host's."""

    def __init__(self, host: str, port: int, *, guard: _Guard, timeout: float) -> None:
        super().__init__(
            host,
            port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED",
            ca_certs=guard.policy.ca_certs or default_ca_bundle(),
        )
        self.guard = guard

    def _new_conn(self) -> socket.socket:
        return self.guard.connect(self.host, self.port, self.socket_options or ())


# --- The download ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    request_target: str

    @property
    def url(self) -> str:
        return f"{self.origin}{self.request_target}"

    @property
    def origin(self) -> str:
        """The address without its path: details name this, since staff who may not see an
        output must not get its address, which opens without a key."""
        return f"{self.scheme}://{_netloc(self.host, self.port)}"


def fetch(url: str, *, policy: OutboundPolicy, max_bytes: int, timeout: float) -> bytes:
    """The body at `url`, at most `max_bytes`, all of it (redirects included) within `timeout`.

    Raises DownloadError: permanent for what a retry cannot change (a refused or malformed
    address, a redirect loop or chain too long, a body too large, 4xx), not for the rest.
    """
    target = _check(url, policy, not_web=NOT_A_WEB_ADDRESS)
    deadline = _Deadline(timeout)
    guard = _Guard(policy, deadline)
    try:
        return _follow(target, guard, max_bytes)
    except DownloadError as error:
        if deadline.passed and not error.permanent:
            raise DownloadError(TOO_SLOW, permanent=False, detail=error.detail) from None
        raise
    except (OSError, http.client.HTTPException, TransportError) as error:
        if deadline.passed:
            detail = f"{target.origin}: not done in {timeout:g} s"
            raise DownloadError(TOO_SLOW, permanent=False, detail=detail) from None
        detail = f"{target.origin}: {type(error).__name__}: {error}"
        raise DownloadError(FAILED, permanent=False, detail=detail) from None
    finally:
        deadline.close()


def _follow(target: _Target, guard: _Guard, max_bytes: int) -> bytes:
    """Request target, and where its redirects lead, each checked before it is connected to."""
    visited = {target.url}
    for redirects in range(MAX_REDIRECTS + 1):
        with _opened(target, guard) as response:
            status = response.status
            if status not in REDIRECT_STATUSES:
                return _body(response, target, guard.deadline, max_bytes)
            location = response.headers.get("Location", "").strip()
        if not location:
            detail = f"{target.origin} answered {status} without a Location"
            raise DownloadError(REDIRECT_NOWHERE, permanent=True, detail=detail)
        if redirects == MAX_REDIRECTS:
            detail = f"{target.origin} redirected a {MAX_REDIRECTS + 1}th time"
            raise DownloadError(TOO_MANY_REDIRECTS, permanent=True, detail=detail)
        target = _check(urljoin(target.url, location), guard.policy, not_web=REDIRECTED_AWAY)
        if target.url in visited:
            raise DownloadError(
                REDIRECT_LOOP,
                permanent=True,
                detail=f"back to an address of {target.origin} already visited",
            )
        visited.add(target.url)
    raise AssertionError("unreachable: the last turn of the loop returns or raises")


def _check(url: str, policy: OutboundPolicy, *, not_web: str) -> _Target:
    """Parse an address once, so what is checked is exactly what is connected to."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port
    except ValueError:
        raise _refused("an address that does not parse") from None
    if scheme not in DEFAULT_PORTS:
        raise DownloadError(not_web, permanent=True, detail=f"scheme {scheme[:20]!r}")
    host = _normal_host(parts.hostname or "")
    if not host or not _is_host(host):
        raise _refused(f"no usable host name ({(parts.hostname or '')[:100]!r})")
    if parts.username is not None:
        raise _refused(f"{host}: an address carrying credentials")
    port = port or DEFAULT_PORTS[scheme]
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _REQUEST_TARGET.fullmatch(request_target):
        raise _refused(f"{host}: a path a request line cannot carry")
    reason = policy.refusal(scheme, host, port)
    if reason:
        raise _refused(reason)
    return _Target(scheme, host, port, request_target)


@contextmanager
def _opened(target: _Target, guard: _Guard) -> Iterator[HTTPResponse]:
    """A response to GET target, its headers read, on a connection of its own."""
    connection_class = (
        _GuardedHTTPSConnection if target.scheme == "https" else _GuardedHTTPConnection
    )
    timeout = min(CONNECT_TIMEOUT, guard.deadline.remaining())
    connection = connection_class(target.host, target.port, guard=guard, timeout=timeout)
    response: HTTPResponse | None = None
    try:
        connection.request(
            "GET",
            target.request_target,
            headers=HEADERS,
            preload_content=False,
            decode_content=False,
        )
        connection.timeout = min(READ_TIMEOUT, guard.deadline.remaining())
        response = connection.getresponse()
        yield response
    finally:
        # The response holds the socket's file: the socket closes only once both have.
        if response is not None:
            response.close()
        connection.close()


def _body(response: HTTPResponse, target: _Target, deadline: _Deadline, max_bytes: int) -> bytes:
    status = response.status
    if status in {404, 410}:
        raise DownloadError(GONE, permanent=True, detail=f"{target.origin} answered {status}")
    if status != 200:
        raise DownloadError(
            f"The image download answered HTTP {status}.",
            permanent=status < 500 and status not in {408, 429},
            detail=f"{target.origin} answered {status}",
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(TOO_LARGE, permanent=True, detail=f"declared {declared} bytes")
    body = bytearray()
    for chunk in response.stream(CHUNK_SIZE, decode_content=False):
        body += chunk
        if len(body) > max_bytes:
            raise DownloadError(TOO_LARGE, permanent=True, detail=f"over {max_bytes} bytes")
        if deadline.passed:
            break
    # A body cut short by the deadline may end like a whole one: the clock decides.
    if deadline.passed:
        raise DownloadError(
            TOO_SLOW, permanent=False, detail=f"{target.origin}: {len(body)} bytes in time"
        )
    return bytes(body)


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


def _is_host(host: str) -> bool:
    if _HOST_NAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

"""Downloading outputs: only from listed hosts, only to public addresses (checked on the address
connected to), redirects checked the same way, and one deadline no drip can stretch.

Everything here connects to loopback only: hostile addresses are tested by making names
resolve to them (the resolver is patched) and checking that nothing connects there.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field

import pytest
import trustme

from generations import outbound, provider
from generations.outbound import AllowedHost, DownloadError, OutboundPolicy
from generations.wavespeed import contract
from tests.factories import png_bytes

PNG = png_bytes()
NAME = "cdn.example.test"


# --- A loopback origin whose answers each test writes ---------------------------------------------

Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class Origin:
    """A web server on loopback: `routes` maps a path to a function that answers it."""

    server: http.server.ThreadingHTTPServer
    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def policy(self, *entries: str, https_only: bool = False) -> OutboundPolicy:
        """This origin's exact host:port listed, with any other entries."""
        hosts = outbound.parse_allowed_hosts([f"127.0.0.1:{self.port}", *entries])
        return OutboundPolicy(hosts, https_only=https_only)


def serve_origin(tls: ssl.SSLContext | None = None) -> Iterator[Origin]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            origin.seen.append({"path": self.path, **dict(self.headers.items())})
            answer = origin.routes.get(self.path.split("?")[0])
            if answer is None:
                self.send_error(404)
                return
            with suppress(BrokenPipeError, ConnectionResetError):  # the client hung up
                answer(self)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    origin = Origin(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        origin.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def origin() -> Iterator[Origin]:
    yield from serve_origin()


def image(body: bytes = PNG, status: int = 200, headers: dict | None = None) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def redirect(location: str, status: int = 302) -> Answer:
    return image(b"", status=status, headers={"Location": location})


def fetch(url: str, policy: OutboundPolicy, *, max_bytes: int = 1_000_000, timeout: float = 10):
    return outbound.fetch(url, policy=policy, max_bytes=max_bytes, timeout=timeout)


def refusal(url: str, policy: OutboundPolicy, **kwargs) -> DownloadError:
    with pytest.raises(DownloadError) as caught:
        fetch(url, policy, **kwargs)
    return caught.value


# --- Names resolving where we choose, and every connection recorded -------------------------------


@pytest.fixture
def resolver(monkeypatch) -> dict[str, list[str]]:
    """Names (added by the test) resolve to the addresses listed for them; others as usual."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        results = []
        for text in answers[host]:
            address = ipaddress.ip_address(text)
            if address.version == 4:
                results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
            else:
                results.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
        return results

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def connections(monkeypatch) -> list[str]:
    """The address of every connection any socket makes during the test."""
    made: list[str] = []
    real = socket.socket.connect

    def connect(sock, address):
        made.append(address[0])
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


# --- The allow-list -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("cdn.example.test", AllowedHost("cdn.example.test")),
        (" CDN.Example.Test. ", AllowedHost("cdn.example.test")),
        ("127.0.0.1:8001", AllowedHost("127.0.0.1", 8001)),
        ("simulator:8001", AllowedHost("simulator", 8001)),
        ("[::1]:8001", AllowedHost("::1", 8001)),
    ],
)
def test_allowed_hosts_are_a_host_or_a_host_and_port(entry, expected):
    assert outbound.parse_allowed_host(entry) == expected


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "https://cdn.example.test",
        "cdn.example.test/path",
        "cdn.example.test?x",
        "user@cdn.example.test",
        "x:0",
        "x:65536",
        "x:port",
        "bad host",
        "ex\u00e4mple.test",
    ],
)
def test_anything_else_in_the_allow_list_is_refused(entry):
    with pytest.raises(ValueError):
        outbound.parse_allowed_host(entry)


POLICY = OutboundPolicy(
    outbound.parse_allowed_hosts(["cdn.example.test", "files.example.test:8443"]), https_only=True
)


@pytest.mark.parametrize(
    ("scheme", "host", "port", "allowed"),
    [
        ("https", "cdn.example.test", 443, True),  # a bare host: the scheme's default port
        ("https", "cdn.example.test", 8443, False),
        ("https", "files.example.test", 8443, True),  # host:port: that port only
        ("https", "files.example.test", 443, False),
        ("https", "other.example.test", 443, False),
        ("https", "example.test", 443, False),
        ("https", "evil.cdn.example.test", 443, False),
        ("http", "cdn.example.test", 80, False),  # https only outside simulator mode
    ],
)
def test_only_listed_hosts_on_their_ports_are_allowed(scheme, host, port, allowed):
    assert (POLICY.refusal(scheme, host, port) is None) is allowed


def test_plain_http_is_allowed_only_when_the_policy_says_so():
    relaxed = OutboundPolicy(POLICY.hosts, https_only=False)
    assert relaxed.refusal("http", "cdn.example.test", 80) is None
    assert "https" in POLICY.refusal("http", "cdn.example.test", 80)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::7f00:1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "fd00::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ],
)
def test_inside_addresses_are_refused(address):
    assert outbound.why_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]
)
def test_public_addresses_are_not(address):
    assert outbound.why_refused(ipaddress.ip_address(address)) is None


# --- Downloads ------------------------------------------------------------------------------------


def test_a_listed_loopback_host_and_port_is_downloaded_from(origin):
    origin.routes["/out.png"] = image()
    assert fetch(f"{origin.url}/out.png?sig=1", origin.policy()) == PNG
    [request] = origin.seen
    assert request["path"] == "/out.png?sig=1"
    assert "Authorization" not in request and "Cookie" not in request
    assert request["Accept-Encoding"] == "identity"


def test_only_https_is_fetched_outside_simulator_mode(origin, connections):
    origin.routes["/out.png"] = image()
    error = refusal(f"{origin.url}/out.png", origin.policy(https_only=True))
    assert (error.message, error.permanent) == (outbound.REFUSED, True)
    assert "https" in error.detail
    assert connections == [] and origin.seen == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.0.0.1"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "10.0.0.1"],  # one inside address refuses the name
    ],
)
def test_a_listed_name_resolving_inside_is_refused_without_connecting(
    resolver, connections, addresses
):
    resolver[NAME] = addresses
    policy = OutboundPolicy(outbound.parse_allowed_hosts([NAME]), https_only=False)
    error = refusal(f"http://{NAME}/out.png", policy)
    assert (error.message, error.permanent) == (outbound.REFUSED, True)
    assert NAME in error.detail
    assert any(str(ipaddress.ip_address(a)) in error.detail for a in addresses)
    assert connections == []


def test_a_name_listed_with_its_port_may_resolve_to_loopback(origin, resolver, connections):
    resolver[NAME] = ["127.0.0.1"]
    origin.routes["/out.png"] = image()
    url = f"http://{NAME}:{origin.port}/out.png"
    assert fetch(url, origin.policy(f"{NAME}:{origin.port}")) == PNG
    assert connections == ["127.0.0.1"]
    assert origin.seen[0]["Host"] == f"{NAME}:{origin.port}"


def test_a_bare_listed_name_on_another_port_is_refused(origin, resolver, connections):
    resolver[NAME] = ["127.0.0.1"]
    origin.routes["/out.png"] = image()
    error = refusal(f"http://{NAME}:{origin.port}/out.png", origin.policy(NAME))
    assert error.message == outbound.REFUSED
    assert f"{NAME}:{origin.port} is not in WAVESPEED_OUTPUT_HOSTS" in error.detail
    assert connections == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://x/y.png", "javascript:alert(1)", "gopher://x:70/", ""]
)
def test_only_web_addresses_are_downloaded(url, connections):
    error = refusal(url, OutboundPolicy(frozenset(), https_only=False))
    assert (error.message, error.permanent) == (outbound.NOT_A_WEB_ADDRESS, True)
    assert connections == []


def test_an_address_with_credentials_is_refused(origin):
    origin.routes["/out.png"] = image()
    error = refusal(f"http://user:secret@127.0.0.1:{origin.port}/out.png", origin.policy())
    assert error.message == outbound.REFUSED
    assert "secret" not in error.detail
    assert origin.seen == []


# --- Redirects ------------------------------------------------------------------------------------


def test_up_to_three_redirects_are_followed(origin):
    origin.routes |= {
        "/1": redirect("/2"),
        "/2": redirect(f"{origin.url}/3", status=301),
        "/3": redirect("4", status=307),
        "/4": image(),
    }
    assert fetch(f"{origin.url}/1", origin.policy()) == PNG
    assert [r["path"] for r in origin.seen] == ["/1", "/2", "/3", "/4"]


def test_a_fourth_redirect_is_refused_at_once(origin):
    origin.routes |= {f"/{n}": redirect(f"/{n + 1}") for n in range(1, 5)} | {"/5": image()}
    error = refusal(f"{origin.url}/1", origin.policy())
    assert (error.message, error.permanent) == (outbound.TOO_MANY_REDIRECTS, True)
    assert [r["path"] for r in origin.seen] == ["/1", "/2", "/3", "/4"]


def test_a_redirect_loop_is_refused_at_once(origin):
    origin.routes |= {"/a": redirect("/b"), "/b": redirect("/a")}
    error = refusal(f"{origin.url}/a", origin.policy())
    assert (error.message, error.permanent) == (outbound.REDIRECT_LOOP, True)


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:,x"])
def test_a_redirect_to_another_scheme_is_refused_at_once(origin, location):
    origin.routes["/r"] = redirect(location)
    error = refusal(f"{origin.url}/r", origin.policy())
    assert (error.message, error.permanent) == (outbound.REDIRECTED_AWAY, True)


def test_a_redirect_to_an_unlisted_host_is_refused_without_connecting(origin, connections):
    origin.routes["/r"] = redirect("http://169.254.169.254/latest/meta-data/")
    error = refusal(f"{origin.url}/r", origin.policy())
    assert (error.message, error.permanent) == (outbound.REFUSED, True)
    assert "169.254.169.254:80 is not in WAVESPEED_OUTPUT_HOSTS" in error.detail
    assert connections == ["127.0.0.1"]


def test_a_redirect_to_a_listed_name_resolving_inside_is_refused_at_connect(
    origin, resolver, connections
):
    # The name passes the allow-list; its address is checked when the redirect is followed.
    resolver[NAME] = ["10.1.2.3"]
    origin.routes["/r"] = redirect(f"http://{NAME}/out.png")
    error = refusal(f"{origin.url}/r", origin.policy(NAME))
    assert error.message == outbound.REFUSED
    assert "10.1.2.3 (private)" in error.detail
    assert connections == ["127.0.0.1"]


def test_every_refusal_gives_users_the_same_words_and_staff_the_detail(
    origin, resolver, connections
):
    resolver[NAME] = ["169.254.169.254"]
    origin.routes["/r"] = redirect("http://10.0.0.1:8080/")
    errors = [
        refusal(f"http://{NAME}/x", OutboundPolicy(frozenset({AllowedHost(NAME)}), False)),
        refusal(f"{origin.url}/r", origin.policy()),
        refusal(f"http://127.0.0.1:{origin.port + 1}/x", origin.policy()),
        refusal(f"{origin.url}/x", origin.policy(https_only=True)),
    ]
    assert {error.message for error in errors} == {outbound.REFUSED}
    assert all(error.permanent for error in errors)
    details = [error.detail for error in errors]
    assert len(set(details)) == len(details)
    assert "169.254.169.254 (link-local)" in details[0]
    assert "10.0.0.1:8080" in details[1]


# --- Answers that are not an image ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(404, True), (410, True), (403, True), (429, False), (500, False), (503, False)],
)
def test_http_errors_say_whether_a_retry_can_help(origin, status, permanent):
    origin.routes["/x"] = image(b"no", status=status)
    assert refusal(f"{origin.url}/x", origin.policy()).permanent is permanent


def test_a_dropped_connection_is_worth_a_retry(origin):
    def hang_up(handler):
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    origin.routes["/x"] = hang_up
    error = refusal(f"{origin.url}/x", origin.policy())
    assert (error.message, error.permanent) == (outbound.FAILED, False)


def test_a_declared_length_over_the_cap_is_refused_before_reading(origin):
    origin.routes["/x"] = image(b"x" * 10, headers={"Content-Length": "999999999"})
    error = refusal(f"{origin.url}/x", origin.policy(), max_bytes=1000)
    assert (error.message, error.permanent) == (outbound.TOO_LARGE, True)


def test_a_body_over_the_cap_is_refused_as_it_arrives(origin):
    def endless(handler):
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        while not origin.stopping.is_set():
            handler.wfile.write(b"x" * 65536)

    origin.routes["/x"] = endless
    error = refusal(f"{origin.url}/x", origin.policy(), max_bytes=200_000)
    assert (error.message, error.permanent) == (outbound.TOO_LARGE, True)


# --- The deadline ---------------------------------------------------------------------------------

DEADLINE = 2.0
# A correctness bound, not a speed target: generous for a loaded two-core machine.
MARGIN = 3.0


def drip(handler, data: bytes, every: float, stopping: threading.Event) -> None:
    """Send data a byte at a time, `every` seconds apart, until done or the test ends."""
    for byte in data:
        if stopping.wait(every):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_drip_fed_download_is_cut_at_the_deadline(origin, part):
    def slow_body(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        drip(handler, b"x" * 1000, 0.5, origin.stopping)

    def slow_headers(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        drip(handler, b"X-Slow: " + b"x" * 1000, 0.5, origin.stopping)

    origin.routes["/x"] = slow_body if part == "body" else slow_headers
    started = time.monotonic()
    error = refusal(f"{origin.url}/x", origin.policy(), timeout=DEADLINE)
    elapsed = time.monotonic() - started
    assert (error.message, error.permanent) == (outbound.TOO_SLOW, False)
    assert DEADLINE - 0.1 <= elapsed <= DEADLINE + MARGIN


def test_the_deadline_covers_every_redirect_together(origin):
    def slow_redirect(handler):
        # Each hop alone is well inside the deadline; together they are not.
        origin.stopping.wait(0.8)
        redirect(f"/{int(handler.path[1:]) + 1}")(handler)

    origin.routes |= {f"/{n}": slow_redirect for n in range(1, 4)} | {"/4": image()}
    started = time.monotonic()
    error = refusal(f"{origin.url}/1", origin.policy(), timeout=DEADLINE)
    assert (error.message, error.permanent) == (outbound.TOO_SLOW, False)
    assert time.monotonic() - started <= DEADLINE + MARGIN


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_origin(authority: trustme.CA, name: str) -> Iterator[Origin]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(context)
    yield from serve_origin(tls=context)


def tls_policy(origin: Origin, authority: trustme.CA, tmp_path) -> OutboundPolicy:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    hosts = outbound.parse_allowed_hosts([f"{NAME}:{origin.port}"])
    return OutboundPolicy(hosts, https_only=True, ca_certs=str(bundle))


def test_tls_checks_the_certificate_of_the_name_not_of_the_address(authority, resolver, tmp_path):
    resolver[NAME] = ["127.0.0.1"]
    for origin in tls_origin(authority, NAME):
        origin.routes["/out.png"] = image()
        url = f"https://{NAME}:{origin.port}/out.png"
        assert fetch(url, tls_policy(origin, authority, tmp_path)) == PNG


def test_a_certificate_for_another_name_is_refused(authority, resolver, tmp_path):
    resolver[NAME] = ["127.0.0.1"]
    for origin in tls_origin(authority, "other.example.test"):
        origin.routes["/out.png"] = image()
        url = f"https://{NAME}:{origin.port}/out.png"
        error = refusal(url, tls_policy(origin, authority, tmp_path))
        assert error.message == outbound.FAILED
        assert "certificate" in error.detail.lower()
        assert origin.seen == []


# --- The policy the app uses ---------------------------------------------------------------------


def test_simulator_mode_adds_the_simulators_host_and_port_and_allows_http(settings):
    settings.WAVESPEED_SIMULATED = True
    settings.WAVESPEED_BASE_URL = "http://simulator:8001"
    settings.WAVESPEED_OUTPUT_HOSTS = ["cdn.example.test"]
    policy = provider.output_policy()
    assert policy.hosts == {AllowedHost("cdn.example.test"), AllowedHost("simulator", 8001)}
    assert policy.lists_exactly("simulator", 8001)
    assert policy.refusal("http", "simulator", 8001) is None
    assert policy.refusal("http", "simulator", 8002) is not None


def test_with_an_api_key_only_the_listed_hosts_over_https(settings):
    settings.WAVESPEED_SIMULATED = False
    settings.WAVESPEED_BASE_URL = "https://api.wavespeed.ai"
    settings.WAVESPEED_OUTPUT_HOSTS = ["cdn.example.test"]
    policy = provider.output_policy()
    assert policy.hosts == {AllowedHost("cdn.example.test")}
    assert policy.refusal("https", "cdn.example.test", 443) is None
    assert policy.refusal("http", "cdn.example.test", 80) is not None
    assert policy.refusal("https", "api.wavespeed.ai", 443) is not None


def test_the_default_hosts_are_wavespeeds_file_hosts():
    from django.conf import settings

    assert set(settings.WAVESPEED_OUTPUT_HOSTS) == set(contract.OUTPUT_HOSTS)

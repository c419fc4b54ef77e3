"""Exit 0 when a health endpoint answers 200: the container health check and the stack's wait.

python -m playground.healthcheck [--url URL] [--timeout SECONDS]

Without --url it asks the web server on this host (PORT) for /healthz, naming the first of
ALLOWED_HOSTS as the host: Django refuses any other name, and a wildcard is not a name.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from playground.env import env_int, env_list


def default_host(environ: Mapping[str, str] | None = None) -> str:
    """A host name Django accepts: the first of ALLOWED_HOSTS that is a plain name."""
    for host in env_list("ALLOWED_HOSTS", ["localhost"], environ=environ):
        if host != "*" and not host.startswith("."):
            return host
    return "localhost"


def default_url(environ: Mapping[str, str] | None = None) -> str:
    return f"http://127.0.0.1:{env_int('PORT', 8000, environ=environ)}/healthz"


def probe(url: str, *, host: str | None = None, timeout: float = 5.0) -> bool:
    """True when `url` answers 200 within the timeout."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - our URL
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground.healthcheck")
    parser.add_argument("--url", help="the endpoint to ask (default: this host's /healthz)")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.url:
        return 0 if probe(args.url, timeout=args.timeout) else 1
    return 0 if probe(default_url(), host=default_host(), timeout=args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())

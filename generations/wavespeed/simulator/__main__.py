"""Run the simulator in the foreground.

python -m generations.wavespeed.simulator [--host H] [--port P] [--quiet]
    [--webhook-failure-rate R]
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from generations.wavespeed.contract import MODEL_ID
from playground.env import InvalidSetting, env_int, env_str

from .config import SimulatorConfig
from .server import make_server


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m generations.wavespeed.simulator",
        description=f"A local stand-in for WaveSpeed's v3 API ({MODEL_ID}). "
        "Behaviour comes from SIMULATOR_* environment variables.",
    )
    # Defaults from the environment, so that a container and the native stack run one command.
    parser.add_argument(
        "--host",
        default=env_str("SIMULATOR_HOST", "127.0.0.1"),
        help="address to bind (default SIMULATOR_HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=env_int("SIMULATOR_PORT", 8001, minimum=0, maximum=65535),
        help="port to bind, 0 for any free one (default SIMULATOR_PORT or 8001)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--webhook-failure-rate",
        type=float,
        default=None,
        metavar="R",
        help="share (0..1) of webhook attempts lost, then retried "
        "(default SIMULATOR_WEBHOOK_FAILURE_RATE or 0)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the process exit code."""
    try:
        args = parse_args(argv)
        config = SimulatorConfig.from_env()
        if args.webhook_failure_rate is not None:
            rate = args.webhook_failure_rate
            if not 0.0 <= rate <= 1.0:
                raise InvalidSetting(f"--webhook-failure-rate must be within 0..1; got {rate}")
            config = dataclasses.replace(config, webhook_failure_rate=rate)
    except InvalidSetting as error:
        print(f"Invalid simulator configuration: {error}", file=sys.stderr)
        return 2
    try:
        server = make_server(config, host=args.host, port=args.port, log_requests=not args.quiet)
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        """Only flag the stop: shutdown() from inside a signal handler could deadlock."""
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # Serving in a worker thread leaves the main thread free to receive signals.
    worker = threading.Thread(target=server.serve_forever, name="simulator", daemon=True)
    worker.start()
    print(f"WaveSpeed simulator listening on {server.url}", flush=True)
    try:
        # A timeout keeps the wait interruptible on every platform.
        while not stop.wait(timeout=1.0):
            pass
    finally:
        server.shutdown()
        server.server_close()
        worker.join(timeout=5)
    print("WaveSpeed simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

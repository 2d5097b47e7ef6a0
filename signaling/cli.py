"""The ``podium`` command: ``serve``, ``token`` and ``loadtest``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from signaling.auth import issue_token, new_participant_id
from signaling.config import Config

log = logging.getLogger("podium")


def _serve(args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from signaling.server import create_app

    config = Config.from_env(
        host=args.host,
        port=args.port,
        demo=args.demo,
        redis_url=args.redis,
        secret_file=args.secret_file,
        media_workers=args.workers,
        media_listen=args.media_listen,
        media_token=args.media_token,
        media_tls_cert=args.media_tls_cert,
        media_tls_key=args.media_tls_key,
    )
    if config.media_listen and not config.media_token:
        log.error("--media-listen needs a token (--media-token or PODIUM_MEDIA_TOKEN)")
        return 2

    async def main() -> None:
        app = create_app(config)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        log.info("Podium is serving on http://%s:%d", config.host, config.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await runner.cleanup()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0


def _token(args: argparse.Namespace) -> int:
    config = Config.from_env(secret_file=args.secret_file)
    pid = args.participant_id or new_participant_id(args.role[:3])
    token = issue_token(
        config.resolve_secret(), pid, args.name, args.role, ttl_s=args.ttl or config.token_ttl_s
    )
    print(token)
    return 0


def _loadtest(argv: Sequence[str]) -> int:
    from loadtest.__main__ import main as loadtest_main

    return loadtest_main(list(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podium", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the signaling server and SFU")
    serve.add_argument("--host", default=None, help="address to bind (env PODIUM_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (env PODIUM_PORT)")
    serve.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="load the demo event (default on; env PODIUM_DEMO)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="media worker processes (default: one per core; 0: the SFU inside this process; "
        "env PODIUM_MEDIA_WORKERS)",
    )
    serve.add_argument(
        "--media-listen",
        default=None,
        metavar="HOST:PORT",
        help="accept media workers from other machines here (podium sfu --connect); "
        "env PODIUM_MEDIA_LISTEN",
    )
    serve.add_argument(
        "--media-token",
        default=None,
        help="the token those workers present (env PODIUM_MEDIA_TOKEN)",
    )
    serve.add_argument(
        "--media-tls-cert",
        default=None,
        metavar="PEM",
        help="TLS certificate (chain) for that channel (env PODIUM_MEDIA_TLS_CERT)",
    )
    serve.add_argument(
        "--media-tls-key",
        default=None,
        metavar="PEM",
        help="its private key (env PODIUM_MEDIA_TLS_KEY)",
    )
    serve.add_argument("--redis", default=None, help="Redis URL for shared state")
    serve.add_argument("--secret-file", default=None, help="where the token secret is kept")
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="print a signed participant token")
    token.add_argument(
        "--role", choices=["attendee", "speaker", "moderator", "host"], default="moderator"
    )
    token.add_argument("--name", required=True, help="display name")
    token.add_argument("--participant-id", default=None, help="default: a new id")
    token.add_argument("--ttl", type=float, default=None, help="lifetime in seconds")
    token.add_argument("--secret-file", default=None, help="where the token secret is kept")
    token.set_defaults(func=_token)

    sub.add_parser("loadtest", help="run a load-test scenario (see python -m loadtest -h)")
    sub.add_parser(
        "sfu",
        help="run media workers for a server on another machine "
        "(podium sfu --connect HOST:PORT --token T [--workers N] [--announce-addresses A])",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "loadtest":
        return _loadtest(argv[1:])
    if argv and argv[0] == "sfu":
        from sfu.process import main as sfu_main

        return sfu_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

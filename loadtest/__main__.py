"""``python -m loadtest SCENARIO [options] --report DIR`` (also ``podium loadtest ...``).

Drives a Podium server through its public protocol, as browsers do, and writes
``DIR/report.json``. The server is either started for the run on this machine's loopback
(``--spawn``) or a running deployment at any address (``--url``). With ``--agents N`` the
bots also run on other machines, each started there with
``python -m loadtest agent --connect HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadtest.agentwire import DEFAULT_PORT
from loadtest.cliargs import host_port, non_negative_int, positive_float, positive_int
from loadtest.report import Report
from loadtest.runner import EXIT_FAILED, RunSettings, Scenario, execute
from loadtest.scenarios.mediacli import add_parsers as add_media_parsers
from loadtest.scenarios.signaling import SignalingOptions, SignalingScenario
from loadtest.target import TargetError, target_url

TOKEN_ENV = "PODIUM_LOADTEST_TOKEN"


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    target = common.add_argument_group("target (one of)")
    which = target.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--spawn", action="store_true", help="start a server on a free loopback port for the run"
    )
    which.add_argument(
        "--url", help="a running server, e.g. http://127.0.0.1:8080 or https://podium.example.org"
    )
    target.add_argument(
        "--server-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment of the spawned server (repeatable), e.g. PODIUM_FLUSH_INTERVAL_S=0.2",
    )
    target.add_argument(
        "--server-pid",
        type=positive_int,
        default=None,
        help="with --url: the server's pid for CPU and memory (default: found by its port)",
    )
    run = common.add_argument_group("run")
    run.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="where report.json (and server.log) go (default reports/SCENARIO)",
    )
    run.add_argument(
        "--processes",
        type=non_negative_int,
        default=2,
        help="bot worker processes on this machine (default 2; 0 with --agents: bots only "
        "on the agents)",
    )
    run.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        help="hard limit in seconds for the whole run (default 600)",
    )
    run.add_argument(
        "--sample-interval",
        type=positive_float,
        default=0.5,
        help="seconds between CPU and memory samples (default 0.5)",
    )
    run.add_argument(
        "--profile-server",
        default="",
        metavar="PHASE[,PHASE]",
        help="sample the server with py-spy during these phases (e.g. chat); the busiest "
        "functions go into the report, the stacks into DIR/server-profile-PHASE.txt",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    agents = common.add_argument_group(
        "agents: bots on other machines (see python -m loadtest agent -h)"
    )
    agents.add_argument(
        "--agents",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="wait for N agents and run bots on their machines too (default 0)",
    )
    agents.add_argument(
        "--agent-listen",
        type=host_port,
        default=("127.0.0.1", DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"where agents connect (default 127.0.0.1:{DEFAULT_PORT}: this machine only; "
        f"0.0.0.0:{DEFAULT_PORT} for agents on other machines)",
    )
    agents.add_argument(
        "--agent-token",
        default=None,
        metavar="TOKEN",
        help=f"the token agents must present (default: ${TOKEN_ENV}, else a random one, "
        "printed with the agent command line)",
    )
    agents.add_argument(
        "--agent-wait",
        type=positive_float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the agents before the run fails (default 120)",
    )
    return common


def _agent_parser(sub: Any) -> None:
    from loadtest import agent

    parser = sub.add_parser(
        "agent",
        help="run bot workers on this machine for a coordinator on another one (--agents)",
        description=agent.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--connect",
        required=True,
        metavar="URL",
        help=f"the coordinator: ws://HOST:PORT/agent or HOST[:PORT] (port {DEFAULT_PORT} "
        "when none is given)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"the run's agent token (default: ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="bot worker processes (default: one per core)",
    )
    parser.add_argument(
        "--wait",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="keep trying to connect for this long (default 60)",
    )
    parser.set_defaults(build=None, agent=_run_agent)


def _run_agent(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from loadtest.agent import EXIT_INTERRUPTED, agent_url, run_agent

    if not args.token:
        parser.error(f"the agent needs the run's token: --token or ${TOKEN_ENV}")
    try:
        agent_url(args.connect)
    except ValueError as exc:
        parser.error(f"--connect: {exc}")
    try:
        return asyncio.run(run_agent(args.connect, args.token, args.processes, args.wait))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _redact_token(argv: Sequence[str]) -> list[str]:
    """The command line for the report, without the agent token."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("***")
            hide_next = False
        elif arg == "--agent-token":
            shown.append(arg)
            hide_next = True
        elif arg.startswith("--agent-token="):
            shown.append("--agent-token=***")
        else:
            shown.append(arg)
    return shown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    common = _common_options()

    sig = sub.add_parser(
        "signaling",
        parents=[common],
        help="N websocket clients join a stage, chat event-wide and raise hands",
        description=(
            "N websocket clients register, connect and join a stage; chat messages fan out "
            "to everyone; some raise a hand. Prints join, fan-out and hand-raise latency "
            "percentiles, delivery completeness and CPU of server and bots."
        ),
    )
    defaults = SignalingOptions()
    sig.add_argument(
        "--clients", type=positive_int, default=defaults.clients, help="bots (default 1400)"
    )
    sig.add_argument(
        "--chat-messages",
        type=non_negative_int,
        default=defaults.chat_messages,
        help=f"event-wide chat messages to send (default {defaults.chat_messages})",
    )
    sig.add_argument(
        "--seconds",
        type=positive_float,
        default=defaults.seconds,
        help=f"the chat messages are spread over this many seconds (default {defaults.seconds:g})",
    )
    sig.add_argument(
        "--senders",
        type=positive_int,
        default=None,
        help="bots that send chat messages (default: one per message, at most --clients)",
    )
    sig.add_argument(
        "--hands",
        type=non_negative_int,
        default=defaults.hands,
        help=f"bots that raise a hand together (default {defaults.hands})",
    )
    sig.add_argument(
        "--concurrency",
        type=positive_int,
        default=defaults.concurrency,
        help=f"bots connecting at the same time during the ramp (default {defaults.concurrency})",
    )
    sig.add_argument(
        "--ramp-rate",
        type=positive_float,
        default=None,
        help="arrivals per second during the ramp (default: as fast as --concurrency allows)",
    )
    sig.add_argument(
        "--source-addresses",
        type=positive_int,
        default=defaults.source_addresses,
        help="loopback addresses the bots connect from, 127.0.0.2 and up: the server limits "
        f"registrations per address (default {defaults.source_addresses}; 1: one address)",
    )
    sig.add_argument(
        "--space", default=defaults.space, help=f"the stage to join (default {defaults.space})"
    )
    sig.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=defaults.drain_timeout,
        help="seconds to wait for the last chat receipts (default 20)",
    )
    sig.set_defaults(build=_signaling)

    add_media_parsers(sub, common)
    _agent_parser(sub)
    return parser


def _signaling(args: argparse.Namespace) -> Scenario:
    return SignalingScenario(
        SignalingOptions(
            clients=args.clients,
            chat_messages=args.chat_messages,
            seconds=args.seconds,
            senders=args.senders,
            hands=args.hands,
            concurrency=args.concurrency,
            ramp_rate=args.ramp_rate,
            source_addresses=args.source_addresses,
            space=args.space,
            drain_timeout=args.drain_timeout,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a scenario; returns the process exit status (0: the run completed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "agent", None) is not None:
        agent_code: int = args.agent(parser, args)
        return agent_code
    if getattr(args, "bench", None) is not None:
        code: int = args.bench(args)
        return code
    build: Callable[[argparse.Namespace], Scenario] = args.build
    try:
        scenario = build(args)
        url = target_url(args.url) if args.url else None
    except (ValueError, TargetError) as exc:
        parser.error(str(exc))
    if args.server_env and not args.spawn:
        parser.error("--server-env only applies with --spawn")
    if args.processes == 0 and not args.agents:
        parser.error("--processes 0 needs --agents N: the bots must run somewhere")
    settings = RunSettings(
        report_dir=args.report or Path("reports") / args.scenario,
        url=url,
        spawn=args.spawn,
        processes=args.processes,
        timeout=args.timeout,
        progress=not args.no_progress,
        # A scenario may need server settings (media bots: loopback ICE addresses).
        server_env={**getattr(scenario, "server_env", {}), **dict(args.server_env)},
        server_pid=args.server_pid,
        sample_interval=args.sample_interval,
        profile_phases=frozenset(
            phase.strip() for phase in args.profile_server.split(",") if phase.strip()
        ),
        agents=args.agents,
        agent_listen=args.agent_listen,
        agent_token=args.agent_token or os.environ.get(TOKEN_ENV, ""),
        agent_wait=args.agent_wait,
    )
    report = Report(
        scenario=scenario.name,
        argv=["python", "-m", "loadtest", *_redact_token(argv)],
        options={
            **scenario.options(),
            "processes": settings.processes,
            "agents": settings.agents,
            "timeout": settings.timeout,
            "target": "spawn" if settings.spawn else settings.url,
        },
    )
    try:
        return asyncio.run(execute(settings, scenario, report))
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

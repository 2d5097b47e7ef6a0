"""Command-line options of the media scenarios (stage, breakouts, conference) and the SFU
benchmarks (forwarding, switching)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtest.cliargs import non_negative_int, positive_float, positive_int
from loadtest.media import ClipSettings
from loadtest.runner import Scenario
from loadtest.verdict import MAX_FREEZE_S, MAX_LOSS

Builder = Callable[[argparse.Namespace], Scenario]


def _clip_options(parser: argparse.ArgumentParser) -> None:
    clip = ClipSettings()
    group = parser.add_argument_group("published clip (encoded once, replayed)")
    group.add_argument("--video-size", default=f"{clip.width}x{clip.height}", help="WxH")
    group.add_argument("--fps", type=positive_int, default=clip.fps)
    group.add_argument(
        "--video-kbps", type=positive_int, default=clip.video_kbps, help="encoder target"
    )
    group.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="with --url: the server's token secret (for moderator and speaker tokens)",
    )


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="with --spawn: the server's media worker processes (default: one per core; "
        "0: the SFU inside the server process)",
    )


def _criteria_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pass criteria (the run exits non-zero when one fails)")
    group.add_argument(
        "--max-loss",
        type=_ratio,
        default=MAX_LOSS,
        help=f"largest packet loss ratio that passes (default {MAX_LOSS:g}, i.e. 0.5%%)",
    )
    group.add_argument(
        "--max-freeze",
        type=positive_float,
        default=MAX_FREEZE_S,
        metavar="SECONDS",
        help="longest a tile may go without media while it shows someone "
        f"(default {MAX_FREEZE_S:g})",
    )


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a ratio between 0 and 1, got {text}")
    return value


def clip_settings(args: argparse.Namespace) -> ClipSettings:
    width, _, height = str(args.video_size).partition("x")
    return ClipSettings(
        width=int(width), height=int(height), fps=args.fps, video_kbps=args.video_kbps
    )


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the media scenarios' and the SFU benchmarks' sub-commands."""
    from loadtest.scenarios import breakouts, conference, forwarding, stage

    stage_parser = sub.add_parser(
        "stage",
        parents=[common],
        help="publishers on a stage and N audience media bots, with Q&A promotions",
        description=stage.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = stage.StageOptions()
    stage_parser.add_argument("--publishers", type=non_negative_int, default=d.publishers)
    stage_parser.add_argument("--audience", type=positive_int, default=d.audience)
    stage_parser.add_argument("--hand-raisers", type=non_negative_int, default=d.hand_raisers)
    stage_parser.add_argument("--seconds", type=positive_float, default=d.seconds)
    stage_parser.add_argument("--promote-every", type=positive_float, default=d.promote_every)
    stage_parser.add_argument("--hold", type=positive_float, default=d.hold)
    stage_parser.add_argument("--concurrency", type=positive_int, default=d.concurrency)
    stage_parser.add_argument(
        "--audience-publish",
        action=argparse.BooleanOptionalAction,
        default=d.audience_publish,
        help="audience bots publish camera and microphone as browsers do (default: yes); "
        "with --no-audience-publish only the hand raisers do",
    )
    _clip_options(stage_parser)
    _criteria_options(stage_parser)
    _server_options(stage_parser)
    stage_parser.set_defaults(
        build=lambda a: stage.StageScenario(
            stage.StageOptions(
                publishers=a.publishers,
                audience=a.audience,
                hand_raisers=a.hand_raisers,
                seconds=a.seconds,
                promote_every=a.promote_every,
                hold=a.hold,
                concurrency=a.concurrency,
                audience_publish=a.audience_publish,
                workers=a.workers,
                max_loss=a.max_loss,
                max_freeze_s=a.max_freeze,
                secret_file=a.secret_file,
                clip=clip_settings(a),
            )
        )
    )

    br = sub.add_parser(
        "breakouts",
        parents=[common],
        help="R rooms x P media participants, with moves between rooms",
        description=breakouts.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b = breakouts.BreakoutOptions()
    br.add_argument("--rooms", type=positive_int, default=b.rooms)
    br.add_argument("--per-room", type=positive_int, default=b.per_room)
    br.add_argument("--seconds", type=positive_float, default=b.seconds)
    br.add_argument("--move-every", type=positive_float, default=b.move_every)
    br.add_argument("--concurrency", type=positive_int, default=b.concurrency)
    _clip_options(br)
    _criteria_options(br)
    _server_options(br)
    br.set_defaults(
        build=lambda a: breakouts.BreakoutScenario(
            breakouts.BreakoutOptions(
                rooms=a.rooms,
                per_room=a.per_room,
                seconds=a.seconds,
                move_every=a.move_every,
                concurrency=a.concurrency,
                max_loss=a.max_loss,
                max_freeze_s=a.max_freeze,
                workers=a.workers,
                secret_file=a.secret_file,
                clip=clip_settings(a),
            )
        )
    )

    conf = sub.add_parser(
        "conference",
        parents=[common],
        help="the summit: ramp to 1,400, booths, chat, hands and promotions, a round",
        description=conference.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c = conference.ConferenceOptions()
    conf.add_argument("--participants", type=positive_int, default=c.participants)
    conf.add_argument(
        "--browser-like",
        action=argparse.BooleanOptionalAction,
        default=c.browser_like,
        help="every participant publishes and receives media as the web client does "
        "(default: yes); --no-browser-like gives media to --media-bots of them (default 4)",
    )
    conf.add_argument(
        "--media-bots",
        type=non_negative_int,
        default=c.media_bots,
        help="participants (besides moderator and speakers) with media; the others are "
        "websocket clients only (default: all of them with --browser-like)",
    )
    conf.add_argument(
        "--speakers",
        type=non_negative_int,
        default=c.speakers,
        help=f"speakers publishing on the stage's seats (default {c.speakers})",
    )
    conf.add_argument("--chat-messages", type=non_negative_int, default=c.chat_messages)
    conf.add_argument("--booth-visits", type=non_negative_int, default=c.booth_visits)
    conf.add_argument("--promotions", type=non_negative_int, default=c.promotions)
    conf.add_argument("--rooms", type=positive_int, default=c.rooms)
    conf.add_argument("--round-seconds", type=positive_float, default=c.round_seconds)
    conf.add_argument("--seconds", type=positive_float, default=c.seconds)
    conf.add_argument("--ramp-rate", type=positive_float, default=c.ramp_rate)
    _clip_options(conf)
    _criteria_options(conf)
    _server_options(conf)
    conf.set_defaults(
        build=lambda a: conference.ConferenceScenario(
            conference.ConferenceOptions(
                participants=a.participants,
                media_bots=a.media_bots,
                browser_like=a.browser_like,
                workers=a.workers,
                speakers=a.speakers,
                max_loss=a.max_loss,
                max_freeze_s=a.max_freeze,
                chat_messages=a.chat_messages,
                booth_visits=a.booth_visits,
                promotions=a.promotions,
                rooms=a.rooms,
                round_seconds=a.round_seconds,
                seconds=a.seconds,
                ramp_rate=a.ramp_rate,
                secret_file=a.secret_file,
                clip=clip_settings(a),
            )
        )
    )

    for kind, text in (
        ("forwarding", "SFU benchmark: forwarded packets per CPU-second (python -m sfu.bench)"),
        ("switching", "SFU benchmark: slot switch latency (python -m sfu.bench)"),
    ):
        bench = sub.add_parser(
            kind,
            help=text,
            description=forwarding.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if kind == "forwarding":
            bench.add_argument("--subscribers", type=positive_int, default=100)
            bench.add_argument("--seconds", type=positive_float, default=10.0)
        else:
            bench.add_argument("--switches", type=positive_int, default=100)
        bench.add_argument("--report", type=Path, default=None, metavar="DIR")
        bench.add_argument("--timeout", type=positive_float, default=600.0)
        bench.set_defaults(build=None, bench=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from loadtest.scenarios import forwarding

    if args.scenario == "forwarding":
        extra = ["--subscribers", str(args.subscribers), "--seconds", f"{args.seconds:g}"]
    else:
        extra = ["--switches", str(args.switches)]
    report_dir = args.report or Path("reports") / args.scenario
    return forwarding.run_bench(args.scenario, extra, report_dir, args.timeout)

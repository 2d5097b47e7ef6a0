"""The plan of the signaling scenario: who sends, when, and what the message says."""

from __future__ import annotations

import pytest

from loadtest.bots import chat_text, parse_chat_text
from loadtest.scenarios.signaling import SignalingOptions, chat_plan, source_addresses, spread


def test_spread_picks_evenly_and_without_repeats() -> None:
    items = list(range(100))
    picked = spread(items, 10)
    assert picked == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert spread(items, 4, offset=0.5) == [12, 37, 62, 87]
    assert spread(items, 500) == items
    assert spread([], 3) == [] and spread(items, 0) == []


def test_spread_reaches_every_worker() -> None:
    # Bot i lives in worker i % 2: even spreads must not land in one worker only.
    picked = spread(list(range(1400)), 300)
    assert {i % 2 for i in picked} == {0, 1}
    assert len(set(picked)) == 300


def test_chat_plan_spaces_messages_evenly_and_senders_take_turns() -> None:
    plan = chat_plan([7, 8, 9], messages=6, seconds=3.0, start=100.0)
    assert [k for k, _, _ in plan] == [0, 1, 2, 3, 4, 5]
    assert [sender for _, sender, _ in plan] == [7, 8, 9, 7, 8, 9]
    assert [at for _, _, at in plan] == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0, 102.5])
    assert chat_plan([], 5, 1.0, 0.0) == []


def test_default_senders_send_one_message_each() -> None:
    assert SignalingOptions(clients=1400, chat_messages=300).sender_count() == 300
    assert SignalingOptions(clients=20, chat_messages=100, seconds=60).sender_count() == 20
    assert SignalingOptions(clients=20, chat_messages=0).sender_count() == 1


def test_plans_over_the_servers_chat_limit_are_refused() -> None:
    # 2 senders, 100 messages in 5 s: 10 messages/s each, twice the server's limit.
    with pytest.raises(ValueError, match="chat limit"):
        SignalingOptions(clients=10, chat_messages=100, seconds=5, senders=2).check()
    # A few messages each fit in the server's burst, however close together.
    SignalingOptions(clients=10, chat_messages=20, seconds=1, senders=4).check()
    # Many messages each, slowly enough.
    SignalingOptions(clients=10, chat_messages=100, seconds=60, senders=2).check()


@pytest.mark.parametrize(
    "options",
    [
        SignalingOptions(clients=1),
        SignalingOptions(clients=10, hands=-1),
        SignalingOptions(clients=10, seconds=0),
        SignalingOptions(clients=10, senders=11),
        SignalingOptions(clients=10, ramp_rate=0),
    ],
)
def test_impossible_plans_are_refused(options: SignalingOptions) -> None:
    with pytest.raises(ValueError):
        options.check()


def test_chat_text_carries_index_and_send_time() -> None:
    prefix = "lt:ab12cd34:"
    text = chat_text(prefix, 17, 123_456_789_012)
    assert parse_chat_text(prefix, text) == (17, 123_456_789_012)
    # Another run's messages, people's messages and damaged texts are not counted.
    assert parse_chat_text("lt:other:", text) is None
    assert parse_chat_text(prefix, "hello everyone") is None
    assert parse_chat_text(prefix, prefix + "x:1") is None


def test_bots_come_from_several_loopback_addresses_when_the_server_is_on_ipv4() -> None:
    assert source_addresses("http://127.0.0.1:8080", 3) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert source_addresses("http://127.0.0.1:8080", 1) == []
    assert source_addresses("http://[::1]:8080", 8) == []
    assert source_addresses("http://localhost:8080", 8) == []

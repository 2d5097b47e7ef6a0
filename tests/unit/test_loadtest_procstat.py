"""Reading CPU time and memory of processes from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from loadtest.procstat import (
    ProcessGroup,
    ResourceSampler,
    descendants,
    listening_pids,
    parse_stat,
    read_process,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def test_parse_stat_counts_fields_after_the_command_name() -> None:
    # A command name with spaces and a closing parenthesis must not shift the fields.
    stat = "4242 (odd ) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 99 0 0"
    sample = parse_stat(4242, stat, "1000 300 50 1 0 200 0")
    assert sample.pid == 4242
    assert sample.ppid == 17
    assert sample.cpu_s == pytest.approx(300 / TICKS)
    assert sample.rss_bytes == 300 * PAGE


def test_this_process_can_be_read() -> None:
    sample = read_process(os.getpid())
    assert sample is not None
    assert sample.ppid == os.getppid()
    assert sample.rss_bytes > 0


def test_a_missing_process_reads_as_none() -> None:
    assert read_process(2**22 + 12345) is None


def test_children_are_found_and_listeners_by_port() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert os.getpid() in listening_pids(port)


def test_cpu_time_spent_is_counted() -> None:
    group = ProcessGroup("me", [os.getpid()])
    before = group.sample()[0]
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    cpu, rss, alive = group.sample()
    # The kernel counts in clock ticks: allow a few ticks of rounding.
    assert cpu - before >= 0.3 - 3 / TICKS
    assert rss > 0 and alive == 1


def test_phase_figures_come_from_marks() -> None:
    sampler = ResourceSampler([ProcessGroup("me", [os.getpid()])])
    sampler.mark("start")
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    sampler.mark("end")
    figures = sampler.between("start", "end")
    assert figures["me"] > 0.0
    assert 0.0 <= figures["machine"] <= 100.0
    assert sampler.has_mark("start") and not sampler.has_mark("other")


def test_other_programs_are_what_the_machine_used_beyond_our_groups() -> None:
    sampler = ResourceSampler(
        [
            ProcessGroup("server", [os.getpid()]),
            ProcessGroup("bots", [os.getpid()]),
            ProcessGroup("bot-0", [os.getpid()], part_of_total=False),
        ]
    )
    sampler.cores = 2
    # The machine was 60% busy over 2 cores = 120% of one core; we used 30 + 50.
    assert sampler._others(60.0, {"server": 30.0, "bots": 50.0, "bot-0": 50.0}) == 40.0
    assert sampler._others(10.0, {"server": 30.0}) == 0.0
    sampler.others_series = [(1.0, 5.0), (2.0, 70.0)]
    assert sampler.others_at(0.5) == 5.0
    assert sampler.others_at(1.5) == 70.0
    assert sampler.others_at(2.5) is None

"""Tests of neurorl._forked: calls in forked processes give the results of calls here, errors included."""

from __future__ import annotations

import os
import time

import pytest

from neurorl._forked import Background, Forked, fork_available, run_forked
from neurorl.errors import MissingDataError


def test_results_in_order_and_from_other_processes():
    parent = os.getpid()
    pids = run_forked([os.getpid, os.getpid, os.getpid], jobs=2)
    assert len(pids) == 3
    assert all(pid != parent for pid in pids) == fork_available()
    assert run_forked([lambda: 1, lambda: 2], jobs=1) == [1, 2]


def test_an_error_of_a_call_is_raised_here_with_its_message():
    def broken():
        raise MissingDataError("no rewarded trial", "session_7.nwb")

    with pytest.raises(MissingDataError, match="session_7.nwb: no rewarded trial"):
        run_forked([lambda: 1, broken], jobs=2)
    with pytest.raises(MissingDataError), Background(broken) as job:
        job.result()


def test_leaving_the_block_stops_the_processes(tmp_path):
    marker = tmp_path / "finished"

    def slow():
        time.sleep(3)
        marker.write_text("done")

    started = time.perf_counter()
    with Forked([slow, slow], jobs=2):
        pass
    assert time.perf_counter() - started < 2.5
    time.sleep(3.5)
    assert not marker.exists()

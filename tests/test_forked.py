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


@pytest.mark.skipif(not fork_available(), reason="forked workers are Linux-only")
def test_workers_end_with_a_killed_parent(tmp_path):
    """A worker of a killed parent ends too (kill -9 leaves no process waiting for work for ever)."""
    import signal
    import subprocess
    import sys

    pids = tmp_path / "pids"
    code = ("import os, sys, time\n"
            "from neurorl._forked import Forked\n"
            "def work():\n"
            "    with open(sys.argv[1], 'a') as f: f.write(f'{os.getpid()}\\n')\n"
            "    time.sleep(30)\n"
            "calls = Forked([work, work], jobs=2)\n"
            "time.sleep(30)\n")
    parent = subprocess.Popen([sys.executable, "-c", code, str(pids)])
    deadline = time.time() + 20
    while time.time() < deadline and (not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.1)
    workers = [int(pid) for pid in pids.read_text().split()]
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") and "Z" not in
                                         open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
                                         for pid in workers):
        time.sleep(0.1)
    alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")
             and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]]
    assert alive == []


_STOPPED_WORKERS = """
import os, signal, sys, time
from neurorl._forked import Forked
def raising(signum, frame):
    raise RuntimeError("the parent's handler ran in a worker")
signal.signal(signal.SIGTERM, raising)        # as a command writing --out does
calls = Forked([lambda: time.sleep(20), lambda: time.sleep(20)], jobs=2)
time.sleep(1.0)
if sys.argv[1] == "stop":
    calls.close()                              # terminates the workers
else:
    try:
        os.killpg(os.getpgid(0), signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        time.sleep(5)
    except KeyboardInterrupt:
        calls.close()
        print("interrupted", file=sys.stderr)
"""


@pytest.mark.skipif(not fork_available(), reason="forked workers are Linux-only")
@pytest.mark.parametrize("how", ["stop", "ctrl-c"])
def test_stopped_workers_print_nothing(how):
    """Workers leave signals to their parent: stopping them, or Ctrl-C, prints no traceback of theirs."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _STOPPED_WORKERS, how], capture_output=True, text=True,
                          timeout=60, start_new_session=True)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == ("interrupted" if how == "ctrl-c" else "")


def test_an_interruption_wrapped_by_a_compiled_call_is_found():
    from neurorl.cli import _interruption
    from neurorl.io.outdir import Terminated

    try:
        try:
            raise Terminated(15)
        except Terminated as inner:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from inner
    except SystemError as wrapped:
        found = _interruption(wrapped)
    assert isinstance(found, Terminated) and found.signum == 15
    assert _interruption(SystemError("unrelated")) is None

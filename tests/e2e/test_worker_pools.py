"""`switchboard worker` runs a pool for transactional work and one for bulk work, and stops both
cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.fixtures.stack import Stack


def children(pid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True).stdout
    return found.splitlines()


def test_two_pools_and_a_clean_stop(stack: Stack) -> None:
    stack.start_process("worker-pools", "worker")
    process = stack.processes["worker-pools"]
    deadline = time.monotonic() + 30
    pools: list[str] = []
    while time.monotonic() < deadline and len(pools) < 2:
        pools = [c for c in children(process.pid) if "dramatiq" in c]
        time.sleep(0.2)
    assert len(pools) == 2
    assert any("--queues messaging webhooks" in p for p in pools)
    assert any("--queues messaging-bulk" in p for p in pools)
    time.sleep(3)  # both pools up and consuming
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    stack.processes.pop("worker-pools")
    assert children(process.pid) == []

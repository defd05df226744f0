"""CPU time per part of the stack, read from /proc: what a benchmark's figures cost, and where."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds"]


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (process trees read from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmdline)

    def part(pid: int) -> str:
        seen = pid
        while seen in procs:
            command = procs[seen][2]
            if "dramatiq entrypoints.worker_app" in command:
                return "worker"
            for name in ("api", "grpc", "worker", "relay", "sandbox"):
                if f"entrypoints.cli {name}" in command:
                    return name
            if "bench.reference_app" in command:
                return "reference"
            if "bench." in command:
                return "load generator"
            seen = procs[seen][0]
        command = procs[pid][2]
        if command.startswith("postgres"):
            return "postgres"
        if "redis-server" in command:
            return "redis"
        return "other"

    totals: dict[str, float] = {}
    for pid, (_, seconds, _) in procs.items():
        totals[part(pid)] = totals.get(part(pid), 0.0) + seconds
    return totals

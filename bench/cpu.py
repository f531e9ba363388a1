"""CPU accounting per process from /proc, and py-spy profiling of the server
workers: the bench's figures of CPU milliseconds per request come from here."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness import Server

_CLK = os.sysconf("SC_CLK_TCK")

def _proc_table() -> dict[int, tuple[int, str, float, float]]:
    """pid -> (ppid, comm, user cpu seconds, system cpu seconds) for every
    readable process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # after the comm: state ppid ... utime is field 14 overall, index 11 here
        table[int(entry)] = (int(rest[1]), comm, int(rest[11]) / _CLK, int(rest[12]) / _CLK)
    return table


def cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by this process, the server tree and all postgres
    processes (the machine is shared: the postgres figure includes any other user)."""
    table = _proc_table()
    own = os.times()
    snap = {"client": own.user + own.system, "server": 0.0, "server_sys": 0.0,
            "postgres": 0.0}
    if server_pid is not None:
        tree = {server_pid}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, *_) in table.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    changed = True
        snap["server"] = sum(table[p][2] + table[p][3] for p in tree if p in table)
        snap["server_sys"] = sum(table[p][3] for p in tree if p in table)
    snap["postgres"] = sum(u + k for _, comm, u, k in table.values() if comm == "postgres")
    return snap


def cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: b[k] - a[k] for k in a}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Profiler:
    """`py-spy record` on every server worker for the length of one phase
    (collapsed stacks, readable with bench/spy_summary.py)."""

    def __init__(self, py_spy: str | None, outdir: Path, server: Server, seconds: float) -> None:
        self.py_spy, self.outdir, self.server, self.seconds = py_spy, outdir, server, seconds
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, phase: str) -> None:
        if not self.py_spy:
            return
        for pid in self.server.worker_pids():
            out = self.outdir / f"{phase}-{pid}.txt"
            self.procs.append(subprocess.Popen(
                [self.py_spy, "record", "--nonblocking", "-r", "250", "-f", "raw", "-o",
                 str(out), "-d", str(max(1, int(self.seconds))), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in self.procs:
            try:
                proc.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()

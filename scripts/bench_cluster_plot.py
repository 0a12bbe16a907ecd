"""Timeline pictures for scripts/bench_cluster.py: one lane per node, bars coloured by chapter.

A bar is one sentence a node synthesized, from when the node could start it (its previous
audio, or the Assign of the lease, whichever is later) to the arrival of its audio; runs of
bars of the same chapter are merged. Chapters are numbered as in the job (1 = its first). Audio that arrived for a sentence that already had audio
(redundant work) is drawn grey and hatched. Markers: steal/backup leases (on the thief), lease
expiries, nodes leaving; red dashed lines: the harness's kill / freeze / start of a node.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

MERGE_GAP = 0.05  # seconds: consecutive bars closer than this become one
MARKERS = {  # kind -> (marker, colour, label)
    "steal": ("^", "black", "steal (lease to thief)"),
    "backup": ("D", "purple", "backup lease"),
    "expired": ("x", "red", "lease expired"),
    "left": ("X", "red", "node left / removed"),
    "joined": (">", "green", "node joined"),
}


def sentence_bars(timeline: list[dict]) -> dict[str, list[tuple[float, float, object, bool]]]:
    """node -> [(start, end, chapter, redundant)], merged per chapter run."""
    last_audio: dict[str, float] = {}
    last_assign: dict[str, float] = {}
    seen: set[int] = set()
    bars: dict[str, list] = {}
    for ev in timeline:
        node, t = ev["node"], ev["t"]
        if ev["event"] == "assign":
            last_assign[node] = t
        elif ev["event"] == "audio":
            start = max(last_audio.get(node, 0.0), last_assign.get(node, 0.0))
            redundant = ev["index"] in seen
            seen.add(ev["index"])
            lane = bars.setdefault(node, [])
            if lane and lane[-1][2] == ev["chapter"] and lane[-1][3] == redundant and start - lane[-1][1] < MERGE_GAP:
                lane[-1] = (lane[-1][0], t, ev["chapter"], redundant)
            else:
                lane.append((start, t, ev["chapter"], redundant))
            last_audio[node] = t
    return bars


def marks(timeline: list[dict]) -> dict[str, list[tuple[float, str]]]:
    """marker kind -> [(t, node)]."""
    out: dict[str, list] = {k: [] for k in MARKERS}
    for ev in timeline:
        kind = None
        if ev["event"] == "assign" and ev.get("kind") in ("steal", "backup"):
            kind = ev["kind"]
        elif ev["event"] == "revoke" and ev.get("reason") == "expired":
            kind = "expired"
        elif ev["event"] in ("left", "removed"):
            kind = "left"
        elif ev["event"] == "joined":
            kind = "joined"
        if kind:
            out[kind].append((ev["t"], ev["node"]))
    return out


def lanes(report: dict, timeline: list[dict]) -> list[str]:
    names = [n["name"] for n in report.get("nodes", [])]
    for ev in timeline:
        if ev["node"] not in names:
            names.append(ev["node"])
    return names


def plot_timeline(report: dict, record: dict, path: Path) -> None:
    timeline = report.get("timeline", [])
    names = lanes(report, timeline)
    chapters = sorted({ev["chapter"] for ev in timeline if ev.get("chapter") is not None})
    cmap = plt.get_cmap("tab20" if len(chapters) > 10 else "tab10")
    colour = {ch: cmap(i % cmap.N) for i, ch in enumerate(chapters)}
    row = {name: i for i, name in enumerate(names)}
    fig, ax = plt.subplots(figsize=(13, 1.6 + 0.42 * max(len(names), 1)))
    for node, bars in sentence_bars(timeline).items():
        y = row[node]
        for redundant in (False, True):
            spans = [(a, b - a, ch) for a, b, ch, red in bars if red == redundant]
            if not spans:
                continue
            ax.broken_barh([(a, w) for a, w, _ in spans], (y - 0.38, 0.76),
                           facecolors=["0.7" if redundant else colour[ch] for _, _, ch in spans],
                           hatch="////" if redundant else None, edgecolor="0.3" if redundant else "none",
                           linewidth=0.3)
    handles = [Patch(color=colour[ch], label=f"chapter {ch + 1}") for ch in chapters]
    handles.append(Patch(facecolor="0.7", hatch="////", edgecolor="0.3", label="redundant (dropped)"))
    for kind, points in marks(timeline).items():
        if points:
            marker, col, label = MARKERS[kind]
            ax.scatter([t for t, _ in points], [row[n] for _, n in points], marker=marker, c=col, s=28, zorder=3)
            handles.append(Line2D([], [], marker=marker, color=col, linestyle="none", label=label))
    for action in record.get("actions", []):
        if action.get("t") is not None:
            ax.axvline(action["t"], color="red", linestyle="--", linewidth=1)
            ax.text(action["t"], len(names) - 0.4, f" {action['action']} {action['node']}", color="red",
                    fontsize=8, va="bottom")
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.4, -0.6)
    ax.set_xlabel("seconds since the leader's job start")
    ax.set_xlim(0, max(report.get("wall_seconds", 0) or 0, 1) * 1.01)
    eff = record.get("efficiency")
    title = (f"{record['scenario']}{' ' + record['variant'] if record['variant'] else ''} · policy "
             f"{record['policy']} · {record['nodes']} node(s): wall {report.get('wall_seconds', 0):.1f} s")
    if record.get("ideal_s"):
        title += f", ideal {record['ideal_s']:.1f} s, efficiency {eff:.3f}"
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

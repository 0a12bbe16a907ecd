"""The single-machine worker: synthesize a job's missing segments with one loaded engine."""

from __future__ import annotations

import logging
from collections.abc import Callable

from e2a_node.audio import SegmentStore
from e2a_node.errors import E2AError
from e2a_node.job import JobPlan, check_audio, segment_seed
from e2a_node.layout import Segment
from e2a_node.synth.base import Engine

log = logging.getLogger(__name__)


def synthesize_missing(
    plan: JobPlan,
    engine: Engine,
    store: SegmentStore,
    on_segment: Callable[[Segment, float], None] | None = None,
) -> None:
    """Synthesize every segment the store lacks, storing each as soon as it is made.

    `on_segment(segment, audio_seconds)` is called after each stored segment. Interrupting
    (Ctrl-C) loses at most the segment being synthesized.
    """
    for seg in plan.missing(store):
        try:
            pcm = engine.synthesize(seg.text, seed=segment_seed(seg.text))
        except E2AError:
            raise
        except Exception as exc:  # an engine failure on one segment: say which text
            log.debug("engine failure", exc_info=True)
            raise E2AError(f"the {engine.name} voice failed on segment {seg.index} ({seg.text[:60]!r}): {exc}") from exc
        problem = check_audio(pcm, seg.text, engine.sample_rate)
        if problem:
            raise E2AError(f"the {engine.name} voice made unusable audio for segment {seg.index}: {problem}")
        store.put(seg.index, pcm)
        if on_segment:
            on_segment(seg, len(pcm) / 2 / engine.sample_rate)

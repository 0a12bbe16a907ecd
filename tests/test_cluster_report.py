"""The per-node progress line and the report's voice transfers (cluster.report)."""

from types import SimpleNamespace

from e2a_node.cluster.members import VoiceTransfer
from e2a_node.cluster.report import AudioTally, status_line
from e2a_node.scheduler import Progress


def test_the_progress_line_shows_nodes_being_sent_the_voice_until_they_have_it():
    progress = Progress(10, 100, 500, 5000, 0, per_node={"a": {"segments": 10, "chars": 500, "share": 1.0}})
    members = {"a": SimpleNamespace(slots=1)}
    tally = {"a": AudioTally(audio_seconds=30.0, synth_seconds=3.0)}
    fetching = {"b": VoiceTransfer("b", 340_000_000, 1_800_000_000, 340_000_000, "a")}
    assert status_line(progress, members, tally, fetching) == "a 100% 10x · b fetching voice 340/1800 MB"
    done = {"b": VoiceTransfer("b", 1_800_000_000, 1_800_000_000, 1_800_000_000, "a", finished=True)}
    assert status_line(progress, members, tally, done) == "a 100% 10x"

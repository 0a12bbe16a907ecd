"""The rule that picks who sends a node the job's voice (scheduler.voice_sources)."""

from e2a_node.scheduler.voice_sources import LEADER, VoiceSources


def test_only_the_leader_holds_the_voice_at_first():
    s = VoiceSources()
    assert s.choose("a") == LEADER and not s.peer_for("a")


def test_a_member_that_holds_it_goes_before_the_leader():
    s = VoiceSources()
    s.add_holder("a")
    assert s.peer_for("b") and s.choose("b") == "a"
    assert s.choose("a") == LEADER  # never itself


def test_uploads_spread_over_the_holders():
    s = VoiceSources()
    s.add_holder("a")
    first = s.choose("b")
    s.started(first)
    second = s.choose("c")
    s.started(second)
    assert {first, second} == {"a", LEADER}
    s.ended(first, "b", ok=True)
    assert s.choose("d") == first


def test_a_source_that_failed_a_node_is_not_tried_again_for_it():
    s = VoiceSources()
    s.add_holder("a")
    s.started("a")
    s.ended("a", "b", ok=False)
    assert s.choose("b") == LEADER and not s.peer_for("b")
    assert s.choose("c") == "a"  # only for that node
    s.ended(LEADER, "b", ok=False)
    assert s.choose("b") is None


def test_a_holder_added_twice_counts_once():
    s = VoiceSources()
    s.add_holder("a")
    s.add_holder("a")
    assert s.holders == [LEADER, "a"]

"""Slots and threads a node (and the leader's own voices) use when the user names none."""

import os

from e2a_node.node import default_slots, default_threads


def test_one_slot_leaves_threads_to_the_engine():
    assert default_threads(1) is None


def test_several_slots_share_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [default_threads(n) for n in (2, 3, 4, 16)] == [4, 2, 2, 1]


def test_slots_one_per_core_up_to_four_for_piper_on_a_cpu(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_slots("cpu") == 4
    assert default_slots("cuda:0") == default_slots("cpu", "coqui") == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_slots("cpu") == 1

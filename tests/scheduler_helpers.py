"""Picking instructions out of a scheduler's answer, for the scheduler tests."""

from __future__ import annotations

from e2a_node.scheduler import Assign


def of(instructions, kind):
    return [i for i in instructions if isinstance(i, kind)]


def only_assign(instructions) -> Assign:
    assigns = of(instructions, Assign)
    assert len(assigns) == 1, instructions
    return assigns[0]

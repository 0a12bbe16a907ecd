"""The queue of unassigned segments: sorted disjoint runs, merged and split as work moves."""

from __future__ import annotations

import random

import pytest

from e2a_node.scheduler.sizing import run_end
from e2a_node.scheduler.workqueue import WorkQueue


def prefix_of(chars):
    out = [0]
    for c in chars:
        out.append(out[-1] + c)
    return out


def test_add_merges_and_remove_splits():
    q = WorkQueue(prefix_of([10] * 20))
    q.add(5, 8)
    q.add(0, 3)
    q.add(3, 5)  # joins both neighbours
    assert list(q.runs()) == [(0, 8)] and q.count == 8 and q.chars == 80
    assert q.remove(4) and not q.remove(4) and not q.remove(15)
    assert list(q.runs()) == [(0, 4), (5, 8)]
    assert q.remove(0) and q.remove(7)
    assert list(q.runs()) == [(1, 4), (5, 7)] and q.count == 5 and q.chars == 50
    assert 5 in q and 4 not in q
    with pytest.raises(AssertionError):
        q.add(3, 6)  # overlaps


def test_pop_front_takes_the_lowest_indices():
    q = WorkQueue(prefix_of([10] * 20))
    q.add(10, 20)
    q.add(2, 4)
    assert q.first_run() == (2, 4)
    assert q.pop_front(3) == (2, 3)
    assert q.pop_front(4) == (3, 4)
    assert q.first_run() == (10, 20)


def test_run_end_fits_the_budget_with_at_least_one_segment():
    prefix = prefix_of([100, 50, 50, 300, 10])
    assert run_end(prefix, 0, 5, 200) == 3
    assert run_end(prefix, 0, 5, 199) == 2
    assert run_end(prefix, 3, 5, 10) == 4  # one segment even if too long
    assert run_end(prefix, 0, 2, 1e9) == 2  # never past the limit


def test_random_operations_match_a_set():
    rng = random.Random(5)
    chars = [rng.randint(0, 50) for _ in range(300)]
    q = WorkQueue(prefix_of(chars))
    model: set[int] = set()
    for _ in range(3000):
        op = rng.random()
        if op < 0.4:
            a = rng.randrange(300)
            b = a
            while b < 300 and b not in model and b - a < 10:
                b += 1
            if b > a:
                q.add(a, b)
                model.update(range(a, b))
        elif op < 0.7:
            i = rng.randrange(300)
            assert q.remove(i) == (i in model)
            model.discard(i)
        elif model:
            start, end = q.first_run()
            assert start == min(model)
            cut = rng.randint(start + 1, end)
            q.pop_front(cut)
            model.difference_update(range(start, cut))
        assert q.count == len(model)
        assert q.chars == sum(chars[i] for i in model)
    assert sorted(i for s, e in q.runs() for i in range(s, e)) == sorted(model)

"""Byte mutations for the fuzz tests: a list of (kind, position, bytes) drawn by hypothesis,
applied in order to a good input (tests/test_fuzz_book.py, tests/test_fuzz_wav.py)."""

from __future__ import annotations

from hypothesis import strategies as st

KINDS = ("flip", "insert", "delete", "replace", "truncate")


def mutations(tokens: list[bytes], max_position: int, max_size: int = 6, kinds=KINDS):
    """Up to `max_size` mutations anywhere below `max_position`; the bytes are random or one
    of `tokens` (markup or headers that steer towards the parsers' interesting paths)."""
    return st.lists(st.tuples(st.sampled_from(kinds), st.integers(0, max_position),
                              st.one_of(st.sampled_from(tokens), st.binary(min_size=1, max_size=12))),
                    min_size=1, max_size=max_size)


def mutate(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for kind, at, chunk in ops:
        i = at % (len(out) + 1)
        if kind == "flip" and out:
            out[i % len(out)] ^= chunk[0] or 0x20
        elif kind == "insert":
            out[i:i] = chunk
        elif kind == "delete":
            del out[i : i + len(chunk) * 4]
        elif kind == "truncate":
            del out[i:]
        else:
            out[i : i + len(chunk)] = chunk
    return bytes(out)

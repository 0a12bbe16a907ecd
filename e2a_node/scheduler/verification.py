"""Peer verification's pieces: which accepted segments get verified, and one verification.

Which segments: `picked(seed, index, threshold)`, a pure hash of (seed, index) (splitmix64),
so the same job with the same seed verifies the same segments and nobody but the leader (who
chooses the seed) can tell which. `threshold(fraction)` turns `verify_fraction` into the
integer the hash is compared with.

The rules that use them (who verifies, what a mismatch means) are in state.py's docstring.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1


def threshold(fraction: float) -> int:
    """The hash bound for a fraction in [0, 1]: 0 picks nothing, 2**64 everything."""
    return round(min(max(fraction, 0.0), 1.0) * (1 << 64))


def picked(seed: int, index: int, bound: int) -> bool:
    """Whether segment `index` is verified, for a `threshold` bound."""
    x = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xD1B54A32D192ED03) & _MASK
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    return x < bound


class Verification:
    """Segment `index`, accepted from `suspect`, to be made again by another node.

    At any time it is in exactly one state: queued (in the scheduler's verify queue), leased
    (`lease` != 0: a "verify" lease on one node), or comparing (`verifier` set: the verifier's
    audio came, the driver owes a Compared). `first`, when set, is an untrusted verifier whose
    audio differed from the suspect's: this is then the arbitration, done by a third node."""

    __slots__ = ("index", "suspect", "first", "attempts", "lease", "verifier")

    def __init__(self, index: int, suspect: str) -> None:
        self.index = index
        self.suspect = suspect
        self.first = ""
        self.attempts = 0  # leases lost (expired, failed, node gone)
        self.lease = 0
        self.verifier = ""

    def excludes(self, name: str) -> bool:
        """Whether node `name` may not verify this one (its own audio is in question)."""
        return name == self.suspect or name == self.first

    def __repr__(self) -> str:
        state = (f"lease {self.lease}" if self.lease else
                 f"comparing {self.verifier}" if self.verifier else "queued")
        first = f" vs {self.first}" if self.first else ""
        return f"<Verification {self.index} of {self.suspect}{first}: {state}>"

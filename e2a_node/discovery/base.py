"""What discovery finds (`NodeAddress`) and the interface every way of finding nodes keeps.

A `Discovery` answers one question: which nodes can this machine reach right now? The
implementations (mDNS browse, a static host:port list, an in-memory list for tests) are
interchangeable; the leader asks `nodes()` whenever it wants a fresh view, for example to
pick up a node that joined mid-job.

Implementations may be fed from another thread (zeroconf calls back from its own), and
callers may be an asyncio loop thread or an executor, so all state lives behind one
condition variable here.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class NodeAddress:
    """Where to reach one node, and what it says about itself.

    Equality and hashing use `host`, `port`, `name` and `node_id` only: `properties` (the
    mDNS TXT record) and `addresses` (every address the node announced) are descriptive and
    excluded, so a NodeAddress can live in sets and dict keys. Treat `properties` as
    read-only; it is a private copy of what was passed in.
    """

    host: str
    port: int
    name: str = ""
    node_id: str = ""
    properties: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # All announced addresses, best first (host is the first). Empty for static targets.
    addresses: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", dict(self.properties))
        object.__setattr__(self, "addresses", tuple(self.addresses))

    @property
    def target(self) -> str:
        """"host:port" as gRPC wants it, with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name} ({self.target})" if self.name else self.target


def _sort_key(addr: NodeAddress) -> tuple[str, str, int]:
    return (addr.name, addr.host, addr.port)


class Discovery(ABC):
    """A live, thread-safe view of the nodes on the network.

    Subclasses implement `start()` and `stop()` and report what they learn through
    `_put(key, addr)` and `_drop(key)`; the base class keeps the set and wakes `wait_for`.
    After `stop()`, `nodes()` keeps returning the last known set.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._known: dict[Hashable, NodeAddress] = {}

    @abstractmethod
    def start(self) -> None:
        """Begin finding nodes. Returns without waiting for any."""

    @abstractmethod
    def stop(self) -> None:
        """Stop finding nodes and release what `start()` took. Safe to call twice."""

    def nodes(self) -> list[NodeAddress]:
        """The nodes known now, sorted by name then address."""
        with self._changed:
            return sorted(self._known.values(), key=_sort_key)

    def wait_for(self, count: int, timeout: float) -> list[NodeAddress]:
        """Block until at least `count` nodes are known or `timeout` seconds pass.

        Returns what is known at that point, which may be fewer than `count`.
        """
        with self._changed:
            self._changed.wait_for(lambda: len(self._known) >= count, timeout=max(0.0, timeout))
            return sorted(self._known.values(), key=_sort_key)

    def _put(self, key: Hashable, addr: NodeAddress) -> None:
        with self._changed:
            self._known[key] = addr
            self._changed.notify_all()

    def _drop(self, key: Hashable) -> None:
        with self._changed:
            if self._known.pop(key, None) is not None:
                self._changed.notify_all()

    def __enter__(self) -> Discovery:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

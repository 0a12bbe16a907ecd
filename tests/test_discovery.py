"""Node discovery: static lists, the in-memory fake, and real mDNS between processes.

mDNS here runs only on 127.0.0.1 (`interface="127.0.0.1"` everywhere): tests never announce
or browse on the machine's real interfaces. tests/test_discovery_netns.py covers a real LAN.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from e2a_node.discovery import (
    MDNS_INTERFACE_ENV,
    MdnsAnnouncer,
    MdnsDiscovery,
    MemoryDiscovery,
    NodeAddress,
    StaticDiscovery,
    interface_from_env,
    make_discovery,
    parse_targets,
)
from e2a_node.discovery.mdns import instance_label, order_addresses
from e2a_node.errors import E2AError

ROOT = Path(__file__).resolve().parents[1]
LO = "127.0.0.1"


# --- static targets -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("10.0.0.5:50051,10.0.0.7:50051", [("10.0.0.5", 50051), ("10.0.0.7", 50051)]),
    ("10.0.0.5", [("10.0.0.5", 50051)]),
    (" a:1 , b-2.lan:65535 ", [("a", 1), ("b-2.lan", 65535)]),
    ("node1.local.:6000", [("node1.local.", 6000)]),
    ("[::1]:50052", [("::1", 50052)]),
    ("[fe80::1]", [("fe80::1", 50051)]),
    ("::1", [("::1", 50051)]),
    ("h:1,h:1,h:2", [("h", 1), ("h", 2)]),
])
def test_parse_targets_good(text, expected):
    assert [(a.host, a.port) for a in parse_targets(text)] == expected


@pytest.mark.parametrize("text, named", [
    ("host:notaport", "host:notaport"),
    ("host:0", "host:0"),
    ("host:70000", "host:70000"),
    ("a:1,,b:2", "item 2"),
    ("a:1,", "item 2"),
    ("", "no cluster nodes"),
    ("[::1:50051", "[::1:50051"),
    ("[nothex]:1", "[nothex]:1"),
    ("[::1]x", "[::1]x"),
    ("1::2::3", "1::2::3"),
    ("bad host:1", "bad host:1"),
    ("host:", "host:"),
])
def test_parse_targets_bad(text, named):
    with pytest.raises(E2AError) as err:
        parse_targets(text)
    message = str(err.value)
    assert named in message and "\n" not in message


def test_node_address_target_and_hashing():
    props = {"id": "n1"}
    a = NodeAddress("10.0.0.5", 50051, "box", "n1", props)
    props["id"] = "changed"
    assert a.properties == {"id": "n1"}  # a private copy
    assert a.target == "10.0.0.5:50051"
    assert NodeAddress("::1", 7).target == "[::1]:7"
    b = NodeAddress("10.0.0.5", 50051, "box", "n1", {"v": "2"})
    assert a == b and len({a, b}) == 1
    assert a != NodeAddress("10.0.0.5", 50052, "box", "n1")


def test_static_discovery():
    with StaticDiscovery(["10.0.0.7:1", "10.0.0.5:2,10.0.0.7:1"]) as d:
        assert [n.target for n in d.nodes()] == ["10.0.0.7:1", "10.0.0.5:2"]
        start = time.monotonic()
        assert len(d.wait_for(5, timeout=10)) == 2
        assert time.monotonic() - start < 0.5
    with pytest.raises(E2AError):
        StaticDiscovery([])


def test_make_discovery():
    assert isinstance(make_discovery("10.0.0.5:50051,10.0.0.7"), StaticDiscovery)
    auto = make_discovery(" AUTO ", interface=LO)
    assert isinstance(auto, MdnsDiscovery) and auto.interface == LO  # not started: no traffic
    with pytest.raises(E2AError):
        make_discovery("")
    with pytest.raises(E2AError, match="nope:x"):
        make_discovery("nope:x")


def test_interface_from_env(monkeypatch):
    monkeypatch.delenv(MDNS_INTERFACE_ENV, raising=False)
    assert interface_from_env(None) is None
    monkeypatch.setenv(MDNS_INTERFACE_ENV, "10.77.0.1")
    assert interface_from_env(None) == "10.77.0.1"
    assert interface_from_env("127.0.0.1") == "127.0.0.1"
    assert make_discovery("auto").interface == "10.77.0.1"


# --- in-memory fake -------------------------------------------------------------------------

def test_memory_discovery_add_remove():
    d = MemoryDiscovery()
    a, b = NodeAddress("10.0.0.2", 1, "b"), NodeAddress("10.0.0.1", 1, "a")
    d.add(a)
    d.add(b)
    assert d.nodes() == [b, a]  # sorted by name
    d.add(NodeAddress("10.0.0.2", 1, "b2", properties={"v": "2"}))
    assert [n.name for n in d.nodes()] == ["a", "b2"]
    d.remove(b)
    d.remove(b)
    assert [n.name for n in d.nodes()] == ["b2"]


def test_memory_discovery_wait_for_across_threads():
    d = MemoryDiscovery()
    start = time.monotonic()
    assert d.wait_for(1, timeout=0.1) == []
    assert 0.09 <= time.monotonic() - start < 1
    timer = threading.Timer(0.1, d.add, [NodeAddress("10.0.0.9", 5)])
    timer.start()
    start = time.monotonic()
    assert [n.port for n in d.wait_for(1, timeout=5)] == [5]
    assert time.monotonic() - start < 2
    timer.join()


# --- mDNS address choice and names (pure) -------------------------------------------------

def test_order_addresses_prefers_interface_subnet_then_ipv4():
    import ipaddress
    lan = ipaddress.ip_network("192.168.1.0/24")
    got = order_addresses(["fe80::1%2", "172.17.0.1", "192.168.1.5", "10.0.0.3"], [lan])
    assert got == ["192.168.1.5", "172.17.0.1", "10.0.0.3", "fe80::1%2"]
    assert order_addresses(["172.17.0.1", "10.0.0.3"], []) == ["172.17.0.1", "10.0.0.3"]


def test_instance_label():
    assert instance_label("my.host\nname") == "my-host-name"
    assert instance_label("") == "e2a-node"
    assert len(instance_label("é" * 100).encode()) <= 56


def test_bad_interface_is_a_clear_error():
    with pytest.raises(E2AError, match="not an address of this machine"):
        MdnsDiscovery(interface="203.0.113.7").start()
    with pytest.raises(E2AError, match="nosuchif0"):
        MdnsAnnouncer("x", 50051, {}, interface="nosuchif0").start()


# --- real mDNS between processes on 127.0.0.1 ------------------------------------------------

class Announcer:
    """An announcer in its own process; `stop()` closes its stdin so it withdraws cleanly."""

    def __init__(self, name: str, port: int, **props: str) -> None:
        cmd = [sys.executable, "-m", "tests.mdns_helper", "announce", name, str(port), "--interface", LO]
        cmd += [f"--prop={k}={v}" for k, v in props.items()]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        assert line, "announcer process exited before announcing"
        self.name = json.loads(line)["name"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            assert self.proc.wait(timeout=10) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def announcers():
    started: list[Announcer] = []

    def start(name: str, port: int, **props: str) -> Announcer:
        started.append(Announcer(name, port, **props))
        return started[-1]

    yield start
    for a in started:
        a.kill()


def _wait_until(predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_mdns_node_appears_with_properties_then_leaves(announcers):
    with MdnsDiscovery(interface=LO) as discovery:
        node = announcers("reader one", 50061, id="node-abc", v="1", engines="piper,coqui")
        assert node.name == "reader one"
        start = time.monotonic()
        found = discovery.wait_for(1, timeout=5)
        assert time.monotonic() - start < 3
        assert len(found) == 1
        n = found[0]
        assert (n.name, n.host, n.port, n.node_id) == ("reader one", LO, 50061, "node-abc")
        assert n.properties == {"id": "node-abc", "v": "1", "engines": "piper,coqui"}
        assert n.target == "127.0.0.1:50061"

        node.stop()
        _wait_until(lambda: not discovery.nodes(), timeout=5)


def test_mdns_same_name_twice_both_seen(announcers):
    with MdnsDiscovery(interface=LO) as discovery:
        first = announcers("twin", 50071, id="a")
        discovery.wait_for(1, timeout=5)
        # zeroconf detects a taken name only if it hears the holder's answer while probing;
        # a holder that announced within the last second answers a second late.
        time.sleep(1.0)
        second = announcers("twin", 50072, id="b")
        assert first.name == "twin" and second.name != "twin"
        found = discovery.wait_for(2, timeout=5)
        assert {(n.name, n.port, n.node_id) for n in found} == {
            ("twin", 50071, "a"), (second.name, 50072, "b")}


def test_mdns_in_process_announcer_from_asyncio():
    """The shape `e2a-node serve` and the leader use: both driven from an asyncio program, whose
    loop goes on running while the announcer probes and says goodbye."""

    async def main() -> tuple[list[NodeAddress], int, int]:
        loop = asyncio.get_running_loop()
        discovery = MdnsDiscovery(interface=LO)
        discovery.start()  # from the loop thread: must not attach zeroconf to this loop
        announcer = MdnsAnnouncer("async node", 50081, {"id": "x1"}, interface=LO)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            await announcer.async_start()
            ticks_while_starting = ticks
            found = await loop.run_in_executor(None, discovery.wait_for, 1, 5.0)
            await announcer.async_stop()
            await loop.run_in_executor(None, _wait_until, lambda: not discovery.nodes(), 5.0)
            return found, ticks_while_starting, announcer.instance_name
        finally:
            ticker.cancel()
            announcer.stop()
            discovery.stop()

    found, ticks_while_starting, name = asyncio.run(main())
    assert [(n.name, n.port, n.node_id) for n in found] == [("async node", 50081, "x1")]
    assert name == "async node"
    assert ticks_while_starting >= 5  # the probing takes ~1.5 s; a blocked loop would not tick

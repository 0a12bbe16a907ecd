"""mDNS discovery across a real (virtual) LAN: network namespaces joined by a bridge.

scripts/netns_lan.sh builds namespaces <prefix>1..3 on 10.77.0.0/24. A node announces in
namespace 1 with the defaults users get (all interfaces); namespace 2 browses with the
defaults too, namespace 3 browses confined to "eth0" by name. Nothing touches the host's
interfaces. Needs root and `ip netns`; skipped otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.netns_helpers import ROOT, lan  # noqa: F401  (lan is a fixture)


def _in_ns(ns: str, *args: str) -> subprocess.Popen:
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.mdns_helper", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _line(proc: subprocess.Popen):
    line = proc.stdout.readline()
    assert line, f"helper exited early (rc={proc.wait()})"
    return json.loads(line)


def test_browser_finds_announcer_across_namespaces(lan):
    procs = []
    try:
        browse_all = _in_ns(f"{lan}2", "browse", "--count", "1", "--timeout", "8", "--until-gone")
        browse_eth0 = _in_ns(f"{lan}3", "browse", "--interface", "eth0", "--count", "1", "--timeout", "8")
        procs += [browse_all, browse_eth0]
        announcer = _in_ns(f"{lan}1", "announce", "lan node", "50051", "--prop", "id=n1",
                           "--prop", "v=1")
        procs.append(announcer)
        assert _line(announcer) == {"name": "lan node"}

        for browser in (browse_all, browse_eth0):
            nodes = _line(browser)
            assert len(nodes) == 1, nodes
            node = nodes[0]
            assert (node["host"], node["port"], node["name"]) == ("10.77.0.1", 50051, "lan node")
            assert node["properties"] == {"id": "n1", "v": "1"}
            # The announcer's namespace has only lo and eth0: it announces eth0's address only.
            assert node["addresses"] == ["10.77.0.1"]

        announcer.stdin.close()
        assert announcer.wait(timeout=10) == 0
        gone = _line(browse_all)
        assert gone["gone"], gone
        assert browse_all.wait(timeout=10) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

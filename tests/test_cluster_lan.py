"""`--cluster auto`: nodes found over real mDNS, then a real conversion through them.

On 127.0.0.1 (mDNS confined to loopback with --mdns-interface), and on a private LAN of
network namespaces joined by a bridge, where nodes and leader run with the defaults users get
(announce and browse on every interface, which inside a namespace is only its eth0).
"""

from __future__ import annotations

import json
import os
import subprocess

from e2a_node.audio import probe
from tests.cluster_helpers import NodeProcess
from tests.conftest import E2A, SAMPLE, run_e2a
from tests.netns_helpers import lan  # noqa: F401  (a fixture)

LO = "127.0.0.1"


def _convert_args(tmp_path, *extra) -> list[str]:
    return ["convert", str(SAMPLE), "--chapters", "1-2", "--deterministic", "--no-local",
            "-o", str(tmp_path / "out.m4b"), "--work-dir", str(tmp_path / "work"),
            "--report", str(tmp_path / "report.json"), "--cluster", "auto", *extra]


def _check_result(tmp_path, names: set[str]) -> dict:
    info = probe(tmp_path / "out.m4b")
    assert len(info.chapters) == 2 and info.duration > 10
    report = json.loads((tmp_path / "report.json").read_text())
    shares = {n["name"]: n["sentences"] for n in report["nodes"] if n["state"] != "refused"}
    assert set(shares) == names, shares
    assert sum(shares.values()) == report["sentences"]
    return report


def test_cluster_ls_and_convert_find_nodes_over_mdns(tmp_path):
    nodes = [NodeProcess(name, tmp_path / name, mdns_interface=LO) for name in ("alpha", "beta")]
    try:
        for node in nodes:
            node.wait_ready()
        ls = run_e2a("cluster", "ls", "--mdns-interface", LO, "--wait", "3", "--json")
        assert ls.returncode == 0, ls.stderr
        rows = {r["name"]: r for r in json.loads(ls.stdout)}
        assert set(rows) >= {"alpha", "beta"}, rows
        for node in nodes:
            row = rows[node.name]
            assert row["address"] == node.target
            assert row["slots"] == 1 and row["busy_slots"] == 0
            assert "piper" in row["engines"]

        table = run_e2a("cluster", "ls", "--cluster", ",".join(n.target for n in nodes))
        assert table.returncode == 0, table.stderr
        assert "alpha" in table.stdout and "beta" in table.stdout and "free" in table.stdout

        r = run_e2a(*_convert_args(tmp_path, "--mdns-interface", LO))
        assert r.returncode == 0, r.stderr
        _check_result(tmp_path, {"alpha", "beta"})
        assert "Node alpha" in r.stderr and "Node beta" in r.stderr
    finally:
        for node in nodes:
            node.stop()


def _key(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.key"
    r = run_e2a("cluster", "init", "--key-file", path)
    assert r.returncode == 0, r.stderr
    return str(path)


def _lan_node(lan, tmp_path, i: int, key: str | None) -> NodeProcess:
    extra = ("--key-file", key) if key else ("--insecure",)
    return NodeProcess(f"lan{i}", tmp_path / f"lan{i}", host="0.0.0.0", port=50051, mdns=True,
                       netns=f"{lan}{i}", extra=extra)


def test_nodes_in_separate_network_namespaces_convert_a_book_over_tls(lan, tmp_path):
    key = _key(tmp_path, "cluster")
    nodes = [_lan_node(lan, tmp_path, i, key) for i in (1, 2)]
    try:
        for node in nodes:
            node.wait_ready()
        assert all("mutual TLS" in "".join(node.lines) for node in nodes)
        leader = subprocess.run(["ip", "netns", "exec", f"{lan}3", str(E2A), *_convert_args(tmp_path),
                                 "--key-file", key], capture_output=True, text=True, timeout=300)
        assert leader.returncode == 0, leader.stderr
        report = _check_result(tmp_path, {"lan1", "lan2"})
        addresses = {n["name"]: n["address"] for n in report["nodes"]}
        assert addresses == {"lan1": "10.77.0.1:50051", "lan2": "10.77.0.2:50051"}, addresses
    finally:
        for node in nodes:
            node.stop()


def test_the_key_fingerprint_keeps_two_clusters_on_one_lan_apart(lan, tmp_path):
    """Node lan1 in cluster A, lan2 in cluster B: A's leader uses lan1 only, without ever
    connecting to lan2 (the mDNS record says it is another cluster's); B's `cluster ls` the reverse."""
    a, b = _key(tmp_path, "a"), _key(tmp_path, "b")
    nodes = [_lan_node(lan, tmp_path, 1, a), _lan_node(lan, tmp_path, 2, b)]
    try:
        for node in nodes:
            node.wait_ready()
        leader = subprocess.run(["ip", "netns", "exec", f"{lan}3", str(E2A), *_convert_args(tmp_path),
                                 "--key-file", a], capture_output=True, text=True, timeout=300)
        assert leader.returncode == 0, leader.stderr
        report = _check_result(tmp_path, {"lan1"})
        assert {n["name"]: n["state"] for n in report["nodes"]}["lan2"] == "refused"
        assert "Not using node lan2" in leader.stderr and "another cluster" in leader.stderr
        assert not any("refused a connection" in line for line in nodes[1].lines), nodes[1].lines
        ls = subprocess.run(["ip", "netns", "exec", f"{lan}3", str(E2A), "cluster", "ls", "--wait", "3", "--json",
                             "--key-file", b], capture_output=True, text=True, timeout=60)
        assert ls.returncode == 0, ls.stderr
        rows = {r["name"]: r for r in json.loads(ls.stdout)}
        assert rows["lan2"].get("slots") == 1 and "another cluster" in rows["lan1"]["error"], rows
    finally:
        for node in nodes:
            node.stop()


def test_a_node_refuses_to_listen_on_the_lan_without_a_key(lan, tmp_path):
    node = NodeProcess("bare", tmp_path / "bare", host="0.0.0.0", port=50051, mdns=True, netns=f"{lan}1")
    assert node.proc.wait(60) != 0
    assert any("no cluster key, so not listening on 0.0.0.0" in line for line in node.lines), node.lines
    insecure = _lan_node(lan, tmp_path, 1, None)
    try:
        insecure.wait_ready()
        assert any("--insecure" in line for line in insecure.lines)
        no_key = ["ip", "netns", "exec", f"{lan}3", str(E2A), *_convert_args(tmp_path)]
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "no-config")}
        refused = subprocess.run(no_key, capture_output=True, text=True, timeout=300, env=env)
        assert refused.returncode != 0 and "not on this machine and there is no cluster key" in refused.stderr
        leader = subprocess.run([*no_key, "--insecure"], capture_output=True, text=True, timeout=300, env=env)
        assert leader.returncode == 0, leader.stderr
        _check_result(tmp_path, {"lan1"})
    finally:
        insecure.stop()

"""The cluster key: key files, derived certificates, and the node's TLS gate over real gRPC.

A leader and a node with the same key talk; a wrong key, no key, or a plain-text client is
refused with one line on each side naming the reason; after each refusal a proper client still
works (the gate is not worn down by the attempts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import stat

import grpc
import pytest

from e2a_node.clusterkey import ClusterKey, load_key, read_key_file, write_key_file
from e2a_node.errors import E2AError
from e2a_node.rpc import node_pb2 as pb
from e2a_node.rpc import node_pb2_grpc
from e2a_node.rpc.gate import TlsGate
from e2a_node.rpc.tls import CHANNEL_TLS_OPTIONS, channel_credentials, describe_channel_failure


def test_token_round_trip_and_damage_is_one_line():
    key = ClusterKey.generate()
    again = ClusterKey.from_token(key.token)
    assert again.secret == key.secret and again.fingerprint == key.fingerprint
    assert len(key.fingerprint) == 16 and key.token not in repr(key) and key.token[10:] not in repr(key)
    for bad, why in ((key.token[:-3], "damaged"), ("hello", "not an e2a cluster key"),
                     (key.token[:12] + "!!" + key.token[14:], "damaged")):
        with pytest.raises(E2AError, match=why) as exc:
            ClusterKey.from_token(bad)
        assert "\n" not in str(exc.value)


def test_two_keys_give_different_fingerprints_and_cas():
    a, b = ClusterKey.generate(), ClusterKey.generate()
    assert a.fingerprint != b.fingerprint
    ia, ia2, ib = a.identity("n1"), a.identity("n2"), b.identity("n3")
    from cryptography import x509

    def ca(identity):
        cert = x509.load_pem_x509_certificate(identity.ca_pem)
        return cert.subject, cert.public_key().public_numbers()

    # The CA is derived from the key: the same name and public key on every machine, so a
    # certificate made on one verifies on another (the gate tests below do that over TLS).
    assert ca(ia) == ca(ia2) and ca(ia) != ca(ib)
    assert ia.certificate_pem != ia2.certificate_pem


def test_key_file_is_private_atomic_and_never_silently_replaced(tmp_path):
    key = ClusterKey.generate()
    path = write_key_file(key, tmp_path / "conf" / "cluster.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).secret == key.secret
    write_key_file(key, path)  # the same key again: fine
    with pytest.raises(E2AError, match="already holds a cluster key"):
        write_key_file(ClusterKey.generate(), path)
    assert read_key_file(path).secret == key.secret  # nothing the user made is lost
    write_key_file(ClusterKey.generate(), path, force=True)
    assert read_key_file(path).secret != key.secret
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_load_key_order_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("E2A_CLUSTER_KEY_FILE", raising=False)
    assert load_key() is None  # no key anywhere: loopback-only use needs none
    with pytest.raises(E2AError, match="not found"):
        load_key(tmp_path / "nope.key")
    env_key = ClusterKey.generate()
    write_key_file(env_key, tmp_path / "env.key")
    monkeypatch.setenv("E2A_CLUSTER_KEY_FILE", str(tmp_path / "env.key"))
    assert load_key().secret == env_key.secret
    (tmp_path / "junk.key").write_text("not a key\n")
    with pytest.raises(E2AError, match="not an e2a cluster key"):
        load_key(tmp_path / "junk.key")


class _Status(node_pb2_grpc.NodeServicer):
    async def Status(self, request, context):
        return pb.NodeInfo(name="gated")


async def _gated_node(tmp_path, key: ClusterKey):
    sock = str(tmp_path / "inner.sock")
    server = grpc.aio.server()
    node_pb2_grpc.add_NodeServicer_to_server(_Status(), server)
    server.add_insecure_port(f"unix:{sock}")
    await server.start()
    gate = TlsGate(key.identity("node-under-test"), "127.0.0.1", 0, sock, name="node-under-test")
    port = await gate.start()
    return server, gate, f"127.0.0.1:{port}"


async def _status(target: str, key: ClusterKey | None) -> tuple[str | None, str]:
    if key is None:
        channel = grpc.aio.insecure_channel(target)
    else:
        channel = grpc.aio.secure_channel(target, channel_credentials(key.identity("leader")),
                                          options=CHANNEL_TLS_OPTIONS)
    try:
        reply = await node_pb2_grpc.NodeStub(channel).Status(pb.StatusRequest(), timeout=5)
        return reply.name, ""
    except grpc.aio.AioRpcError as exc:
        return None, describe_channel_failure(exc.details(), key is not None) or exc.details()
    finally:
        await channel.close()


@pytest.mark.parametrize("intruder, leader_says, node_says", [
    ("wrong key", "another cluster key", "another cluster key"),
    ("no key", "requires a cluster key", "without the cluster key"),
])
def test_gate_refuses_strangers_with_one_line_each_side_then_serves_members(tmp_path, caplog, intruder,
                                                                           leader_says, node_says):
    key = ClusterKey.generate()

    async def main():
        server, gate, target = await _gated_node(tmp_path, key)
        try:
            bad = await _status(target, ClusterKey.generate() if intruder == "wrong key" else None)
            await asyncio.sleep(0.2)
            good = await _status(target, key)
            return bad, good, gate.refused
        finally:
            await gate.stop()
            await server.stop(0)

    with caplog.at_level(logging.WARNING, logger="e2a_node.rpc.gate"):
        (bad_name, bad_why), (good_name, _), refused = asyncio.run(main())
    assert bad_name is None and leader_says in bad_why
    lines = [r.getMessage() for r in caplog.records if r.name == "e2a_node.rpc.gate"]
    assert len(lines) == 1 and "refused a connection from 127.0.0.1:" in lines[0] and node_says in lines[0], lines
    assert refused == 1
    assert good_name == "gated"


def test_gate_drops_silent_sockets_and_bounds_handshakes(tmp_path, monkeypatch):
    from e2a_node.rpc import gate as gate_module

    monkeypatch.setattr(gate_module, "HANDSHAKE_SECONDS", 0.5)
    monkeypatch.setattr(gate_module, "MAX_HANDSHAKES", 4)
    key = ClusterKey.generate()

    async def main():
        server, gate, target = await _gated_node(tmp_path, key)
        host, port = target.split(":")
        try:
            idle = [await asyncio.open_connection(host, int(port)) for _ in range(10)]  # never say hello
            await asyncio.sleep(0.2)
            assert gate._handshaking <= 4
            during = await _status(target, key)  # refused or served: the gate must not hang
            await asyncio.sleep(1.5)  # the silent ones time out and are closed
            closed = 0
            for reader, writer in idle:
                try:
                    closed += (await asyncio.wait_for(reader.read(1), 2)) == b""
                except (ConnectionError, asyncio.TimeoutError):
                    closed += 1
                writer.close()
            after = await _status(target, key)
            return closed, gate._handshaking, gate._connected, after, during
        finally:
            await gate.stop()
            await server.stop(0)

    closed, handshaking, connected, after, _during = asyncio.run(main())
    assert closed == 10 and handshaking == 0
    assert after == ("gated", "")


def test_server_context_is_tls13_with_client_certificates(tmp_path):
    from e2a_node.rpc.tls import server_context

    ctx = server_context(ClusterKey.generate().identity("n"))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3 and ctx.verify_mode == ssl.CERT_REQUIRED
    assert not [p for p in os.listdir(os.environ.get("TMPDIR", "/tmp")) if p.startswith("e2a-tls-")]


def test_access_rules_for_leaders():
    from e2a_node.clusterkey import ClusterAccess

    key = ClusterKey.generate()
    other = ClusterKey.generate()
    keyed, bare, insecure = ClusterAccess(key), ClusterAccess(), ClusterAccess(insecure=True)
    assert keyed.refusal("10.0.0.5", key.fingerprint) is None
    assert keyed.refusal("10.0.0.5", None) is None  # a listed node: TLS decides
    assert "another cluster" in keyed.refusal("10.0.0.5", other.fingerprint)
    assert "without a cluster key" in keyed.refusal("10.0.0.5", "")
    # without a key: this machine's nodes only, and never one that wants a key
    assert bare.refusal("127.0.0.1", "") is None and bare.refusal("localhost", None) is None
    assert "not on this machine" in bare.refusal("10.0.0.5", "")  # `--cluster auto` finds a stranger
    assert "requires a cluster key" in bare.refusal("127.0.0.1", key.fingerprint)
    assert insecure.refusal("10.0.0.5", "") is None
    assert keyed.identity is keyed.identity and bare.identity is None


def test_real_node_with_a_key_serves_members_and_names_strangers(tmp_path):
    """Real processes: `e2a-node serve --key-file A` on 127.0.0.1; `e2a cluster ls` with key A,
    key B and no key; then a conversion with key A over TLS."""
    from tests.cluster_helpers import NodeProcess
    from tests.conftest import SAMPLE, run_e2a

    keys = {}
    for name in ("a", "b"):
        keys[name] = tmp_path / f"{name}.key"
        assert run_e2a("cluster", "init", "--key-file", keys[name]).returncode == 0
    node = NodeProcess("keyed", tmp_path / "state", extra=("--key-file", str(keys["a"]))).wait_ready()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "no-config")}
    try:
        assert "mutual TLS" in "".join(node.lines)
        rows = {}
        for label, extra in (("a", ["--key-file", keys["a"]]), ("b", ["--key-file", keys["b"]]), ("none", [])):
            r = run_e2a("cluster", "ls", "--cluster", node.target, "--json", *extra, env=env)
            assert r.returncode == 0, r.stderr
            rows[label] = json.loads(r.stdout)[0]
        assert rows["a"]["name"] == "keyed" and "error" not in rows["a"]
        assert "another cluster key" in rows["b"]["error"]
        assert "requires a cluster key" in rows["none"]["error"]
        out = tmp_path / "out.m4b"
        r = run_e2a("convert", SAMPLE, "--chapters", "1", "--deterministic", "--no-local", "--cluster", node.target,
                    "--key-file", keys["a"], "-o", out, "--work-dir", tmp_path / "work", env=env)
        assert r.returncode == 0, r.stderr
        assert "Node keyed (" in r.stderr and out.stat().st_size > 10_000
        r = run_e2a("convert", SAMPLE, "--chapters", "1", "--no-local", "--cluster", node.target,
                    "--key-file", keys["b"], "-o", tmp_path / "b.m4b", "--work-dir", tmp_path / "work-b", env=env)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert f"no e2a node could take this job: {node.target}: it uses another cluster key" in r.stderr, r.stderr
        assert not (tmp_path / "b.m4b").exists()
        refused = [line for line in node.lines if "refused a connection from 127.0.0.1:" in line]
        assert any("another cluster key" in line for line in refused), node.lines
        assert any("without the cluster key" in line for line in refused), node.lines
    finally:
        node.stop()

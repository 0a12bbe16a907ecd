"""`e2a-node serve`: run a NodeService behind gRPC, announce it over mDNS, stop on a signal.

With a cluster key (the default key file, or --key-file) only members of the cluster get in:
mutual TLS through the gate (rpc/listener.py), and the key's fingerprint in the mDNS record so
leaders of other clusters skip this node. Without a key a node listens on loopback only, unless
the operator says --insecure.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from e2a_node.errors import E2AError
from e2a_node.node import DEFAULT_VOICE_STORE_BYTES, NodeService, default_threads
from e2a_node.wire import DEFAULT_PORT, PROTOCOL_VERSION

log = logging.getLogger(__name__)


@dataclass
class ServeOptions:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    name: str | None = None
    engines: list[str] = field(default_factory=list)
    device: str = "cpu"
    slots: int = 1
    threads: int | None = None
    mdns: bool = True
    mdns_interface: str | None = None
    state_dir: Path | None = None
    allow_model_dirs: list[Path] = field(default_factory=list)  # where a leader's model_path may point
    voice_store_bytes: int = DEFAULT_VOICE_STORE_BYTES  # room for voices leaders send
    voice_upload_rate: int = 0  # bytes a second at most when sending voices to other nodes (0: no limit)
    key_file: Path | None = None  # the cluster key; None = $E2A_CLUSTER_KEY_FILE or the default file
    insecure: bool = False  # without a key, listen beyond loopback anyway (plain text, no access control)


def run_node(opt: ServeOptions) -> None:
    try:
        asyncio.run(_serve(opt))
    except KeyboardInterrupt:
        pass


async def _serve(opt: ServeOptions) -> None:
    from platformdirs import user_state_dir

    from e2a_node.clusterkey import MDNS_PROPERTY, is_loopback, load_key
    from e2a_node.rpc.listener import listen

    key = load_key(opt.key_file)
    if key is None and not is_loopback(opt.host):
        if not opt.insecure:
            raise E2AError(f"no cluster key, so not listening on {opt.host}: any machine that reaches the port could "
                           "use this node. Run `e2a cluster init` (first machine) or `e2a cluster join TOKEN` "
                           "(the others), or pass --insecure, or --host 127.0.0.1")
        log.warning("--insecure: no cluster key; any host that reaches port %d can use this node and read the "
                    "books it is sent", opt.port)
    state_dir = opt.state_dir or Path(user_state_dir("e2a"))
    name = opt.name or (socket.gethostname() if opt.port in (DEFAULT_PORT, 0) else f"{socket.gethostname()}-{opt.port}")
    service = NodeService(name=name, device=opt.device, slots=opt.slots,
                          threads=opt.threads or default_threads(opt.slots), state_dir=state_dir,
                          model_dirs=opt.allow_model_dirs, voice_store_bytes=opt.voice_store_bytes,
                          upload_rate=opt.voice_upload_rate)
    if opt.engines:
        unknown = [e for e in opt.engines if e not in service.engines]
        if unknown:
            raise E2AError(f"--engine {', '.join(unknown)}: not installed here (installed: "
                           f"{', '.join(service.engines) or 'none'})")
        service.engines = {e: v for e, v in service.engines.items() if e in opt.engines}
    listener = await listen(service, opt.host, opt.port, key.identity(name) if key else None)
    port = listener.port
    advertised = opt.mdns_interface or (opt.host if opt.host not in ("0.0.0.0", "::") else socket.gethostname())
    service.address = f"{advertised}:{port}"
    announcer = None
    if opt.mdns:
        from e2a_node.discovery import MdnsAnnouncer

        txt = {"id": service.node_id, "v": str(PROTOCOL_VERSION), "engines": ",".join(service.engines)}
        if key is not None:
            txt[MDNS_PROPERTY] = key.fingerprint
        announcer = MdnsAnnouncer(name, port, txt, interface=opt.mdns_interface)
        await announcer.async_start()  # zeroconf probing takes ~2 s: off the loop
    # One line a supervisor (or a test) can wait for.
    access = f"cluster {key.fingerprint}, mutual TLS" if key else "no cluster key, plain text"
    print(f"e2a-node {name} listening on {opt.host}:{port} (slots {opt.slots}, engines "
          f"{', '.join(service.engines)}; mDNS {'on' if opt.mdns else 'off'}; {access})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if announcer is not None:
            await announcer.async_stop()
        await listener.stop(grace=2.0)
        print(f"e2a-node {name} stopped", flush=True)

"""Finding nodes on the LAN with mDNS / DNS-SD (python-zeroconf), service `_e2a._tcp.local.`.

`MdnsAnnouncer` is what `e2a-node serve` runs: it registers one service instance whose TXT
record carries the node id, protocol version and engines. `MdnsDiscovery` is what the leader
runs: it browses for those instances and keeps `nodes()` current as they come and go.

`interface` (an IP address of this machine, or an interface name such as "eth0") confines
zeroconf to one interface, so it neither announces nor listens anywhere else. Tests and
benchmarks pass "127.0.0.1" or run inside network namespaces; users get every interface.

Zeroconf runs its own event-loop thread. We always keep it there, even when the caller is
an asyncio program: zeroconf would otherwise attach to the caller's running loop, and its
blocking calls (register, resolve) would then wait on the very loop they block.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import ifaddr
from zeroconf import (
    DNSQuestionType,
    InterfaceChoice,
    ServiceBrowser,
    ServiceInfo,
    ServiceListener,
    Zeroconf,
)

from e2a_node.discovery.base import Discovery, NodeAddress
from e2a_node.errors import E2AError

log = logging.getLogger(__name__)

SERVICE_TYPE = "_e2a._tcp.local."
MDNS_INTERFACE_ENV = "E2A_MDNS_INTERFACE"

# How long one resolve (SRV + TXT + A lookup) may take. Usually the answers arrive with the
# browse reply and resolving is instant from zeroconf's cache.
RESOLVE_TIMEOUT_MS = 2000

# Instance labels are at most 63 bytes; keep room for zeroconf's "-N" conflict suffix.
_MAX_LABEL_BYTES = 56


def interface_from_env(value: str | None) -> str | None:
    """`value` if given, else $E2A_MDNS_INTERFACE if set (and not empty), else None."""
    if value:
        return value
    return os.environ.get(MDNS_INTERFACE_ENV) or None


def local_ipv4_networks() -> list[tuple[str, ipaddress.IPv4Network, str]]:
    """(address, network, adapter name) for every IPv4 address of this machine."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if ip.is_IPv4:
                network = ipaddress.ip_network(f"{ip.ip}/{ip.network_prefix}", strict=False)
                found.append((ip.ip, network, adapter.nice_name))
    return found


def resolve_interface(value: str) -> str:
    """Turn an interface given by the user (an IP address or a name like "eth0") into one of
    this machine's IP addresses, or raise E2AError."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        ip = None
    local = local_ipv4_networks()
    if ip is None:
        for address, _, adapter in local:
            if adapter == value:
                return address
        raise E2AError(f"mDNS interface {value!r} is neither an IP address nor a network interface "
                       "with an IPv4 address on this machine")
    if ip.version == 4:
        if str(ip) not in {address for address, _, _ in local}:
            raise E2AError(f"mDNS interface {value} is not an address of this machine")
        return str(ip)
    v6 = {str(ipaddress.ip_address(i.ip[0])) for a in ifaddr.get_adapters() for i in a.ips if not i.is_IPv4}
    if str(ip) not in v6:
        raise E2AError(f"mDNS interface {value} is not an address of this machine")
    return str(ip)


def order_addresses(candidates: list[str], prefer: list[ipaddress.IPv4Network]) -> list[str]:
    """Sort a node's announced addresses best first.

    Addresses inside `prefer[0]` come first, then `prefer[1]`, ..., then other IPv4, then
    IPv6; the announced order is kept within each group.
    """
    def rank(address: str) -> tuple[int, int]:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return (len(prefer) + 2, 0)
        if ip.version != 4:
            return (len(prefer) + 1, 0)
        for i, network in enumerate(prefer):
            if ip in network:
                return (i, 0)
        return (len(prefer), 0)

    return sorted(dict.fromkeys(candidates), key=rank)


def _preferred_networks(interface: str | None) -> list[ipaddress.IPv4Network]:
    local = local_ipv4_networks()
    if interface is not None:
        return [net for address, net, _ in local if address == interface]
    # Subnets this machine is on, loopback last (a node on this same machine announcing a
    # LAN address should be reached on that address like any other).
    nets = [net for _, net, _ in local if not net.is_loopback]
    nets += [net for _, net, _ in local if net.is_loopback]
    return list(dict.fromkeys(nets))


def _new_zeroconf(interface: str | None) -> Zeroconf:
    interfaces = [interface] if interface is not None else InterfaceChoice.All
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return Zeroconf(interfaces=interfaces)
        # A loop runs in this thread: build zeroconf where none does, so it starts its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(Zeroconf, interfaces=interfaces).result()
    except OSError as exc:
        where = interface or "all interfaces"
        raise E2AError(f"cannot start mDNS on {where}: {exc.strerror or exc}") from exc


def instance_label(name: str) -> str:
    """A display name made fit to be an mDNS instance label (no dots or control
    characters, at most 56 bytes of UTF-8)."""
    label = re.sub(r"[\x00-\x1f\x7f.]+", "-", name).strip(" -")
    encoded = label.encode()[:_MAX_LABEL_BYTES]
    label = encoded.decode(errors="ignore").strip(" -")
    return label or "e2a-node"


def _server_name(label: str) -> str:
    # A host name of our own, unique per announcer: two nodes that share a display name (or
    # two processes on one host) must not claim the same A records.
    base = re.sub(r"[^A-Za-z0-9-]+", "-", label).strip("-")[:40].strip("-") or "e2a"
    return f"{base}-{secrets.token_hex(4)}.local."


def _default_addresses() -> list[str]:
    addresses = [address for address, net, _ in local_ipv4_networks() if not net.is_loopback]
    if not addresses:
        log.warning("no non-loopback IPv4 address found; announcing 127.0.0.1 only")
        return ["127.0.0.1"]
    return list(dict.fromkeys(addresses))


def _ignore(**_event: object) -> None:
    pass


class MdnsAnnouncer:
    """Announce this node as an `_e2a._tcp` service until stopped.

    `start()` blocks for about a second and a half while zeroconf probes for name conflicts;
    if the name is taken it registers "name-2", "name-3", ... (see `instance_name`). `stop()`
    blocks while it sends the goodbyes. From asyncio, await `async_start()` and `async_stop()`,
    which run them on a worker thread, so the loop goes on serving meanwhile.

    Renaming works between machines, and on one machine when the holder has been announced
    for a second or more. Nodes on the same machine started at the same moment with the
    same name may both keep it, and browsers then see only one of them: give nodes that
    share a machine distinct names (for example include the port).
    """

    def __init__(self, name: str, port: int, properties: dict[str, str], interface: str | None = None,
                 addresses: list[str] | None = None) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is out of range")
        self.name = name
        self.port = port
        self.properties = {str(k): str(v) for k, v in properties.items()}
        self.interface = interface
        self.addresses = list(addresses) if addresses else None
        self._lock = threading.Lock()
        self._zc: Zeroconf | None = None
        self._info: ServiceInfo | None = None

    @property
    def instance_name(self) -> str:
        """The instance label actually registered (after any rename), or "" if not started."""
        if self._info is None:
            return ""
        return self._info.name[: -len(SERVICE_TYPE) - 1]

    def start(self) -> None:
        with self._lock:
            if self._zc is not None:
                return
            interface = resolve_interface(self.interface) if self.interface else None
            addresses = self.addresses or ([interface] if interface else _default_addresses())
            label = instance_label(self.name)
            info = ServiceInfo(SERVICE_TYPE, f"{label}.{SERVICE_TYPE}", port=self.port,
                               properties=self.properties, server=_server_name(label),
                               parsed_addresses=addresses)
            zc = _new_zeroconf(interface)
            # zeroconf renames on conflict only when the clashing name is in its cache. Replies
            # to its probes come by unicast, which on a machine running several nodes (all on
            # port 5353) can land on another node's socket; browsing with multicast (QM)
            # questions while probing fills our cache for sure.
            seed = ServiceBrowser(zc, SERVICE_TYPE, handlers=[_ignore], question_type=DNSQuestionType.QM)
            try:
                zc.register_service(info, allow_name_change=True)
            except Exception as exc:
                seed.cancel()
                zc.close()
                raise E2AError(f"cannot announce node {self.name!r} on mDNS: {exc}") from exc
            seed.cancel()
            self._zc, self._info = zc, info
            log.info("announcing %s on port %d at %s", self.instance_name, self.port, ", ".join(addresses))

    def stop(self) -> None:
        """Withdraw the service (goodbye packets, so browsers drop it at once) and close."""
        with self._lock:
            zc, info = self._zc, self._info
            self._zc = None
            if zc is None:
                return
            try:
                zc.unregister_service(info)
            except Exception:  # a failed goodbye only means peers notice later
                log.warning("could not withdraw mDNS service %s cleanly", info.name, exc_info=True)
            finally:
                zc.close()
            log.info("stopped announcing %s", info.name)

    async def async_start(self) -> None:
        await asyncio.to_thread(self.start)

    async def async_stop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> MdnsAnnouncer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class MdnsDiscovery(Discovery):
    """Browse the LAN for `_e2a._tcp` nodes; `nodes()` is the current set.

    A node appears once its address, port and TXT record are resolved, changes when it
    re-announces, and disappears when it says goodbye (a clean stop: about a second). A node
    that dies without a goodbye lingers until its records expire (zeroconf keeps PTR records
    for at least ~19 minutes), so callers must treat `nodes()` as candidates and handle a
    failed connection.
    """

    def __init__(self, interface: str | None = None) -> None:
        super().__init__()
        self.interface = interface
        self._lock = threading.Lock()
        self._zc: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None
        self._prefer: list[ipaddress.IPv4Network] = []

    def start(self) -> None:
        with self._lock:
            if self._zc is not None:
                return
            interface = resolve_interface(self.interface) if self.interface else None
            self._prefer = _preferred_networks(interface)
            self._zc = _new_zeroconf(interface)
            self._browser = ServiceBrowser(self._zc, SERVICE_TYPE, listener=_Listener(self))
            log.debug("browsing %s on %s", SERVICE_TYPE, interface or "all interfaces")

    def stop(self) -> None:
        with self._lock:
            zc, browser = self._zc, self._browser
            self._zc = self._browser = None
            if zc is None:
                return
            browser.cancel()
            zc.close()

    def _resolve(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=RESOLVE_TIMEOUT_MS)
        if info is None or not info.port:
            log.info("found %s but could not resolve it", name)
            return
        addresses = order_addresses(info.parsed_scoped_addresses(), self._prefer)
        if not addresses:
            log.info("%s announced no address", name)
            return
        properties = {key: value or "" for key, value in info.decoded_properties.items()}
        addr = NodeAddress(host=addresses[0], port=info.port, name=name[: -len(type_) - 1],
                           node_id=properties.get("id", ""), properties=properties,
                           addresses=tuple(addresses))
        log.debug("node %s at %s", addr.name, addr.target)
        self._put(name.lower(), addr)

    def _remove(self, name: str) -> None:
        log.debug("node %s left", name)
        self._drop(name.lower())


class _Listener(ServiceListener):
    """zeroconf callbacks, run on the browser's thread one at a time (so an add and a
    later remove of the same node are handled in order)."""

    def __init__(self, discovery: MdnsDiscovery) -> None:
        self._discovery = discovery

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._guarded(self._discovery._resolve, zc, type_, name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._guarded(self._discovery._resolve, zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self._guarded(self._discovery._remove, name)

    @staticmethod
    def _guarded(handler, *args) -> None:
        # An exception escaping a callback would end zeroconf's browser thread for good.
        try:
            handler(*args)
        except Exception:
            log.warning("mDNS event for %s failed", args[-1], exc_info=True)

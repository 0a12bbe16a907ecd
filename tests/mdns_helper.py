"""A separate process for the mDNS tests: announce a node, or browse for nodes.

    python -m tests.mdns_helper announce NAME PORT [--interface IP] [--prop KEY=VALUE ...]
        Writes {"name": <registered instance name>} as one JSON line once announced, then
        announces until its stdin closes, then withdraws cleanly and exits 0.
    python -m tests.mdns_helper browse [--interface IP] [--count N] [--timeout S] [--until-gone]
        Writes one JSON line: the nodes known once N are found (or at the timeout). With
        --until-gone, then waits (up to the timeout again) for the list to empty and writes
        {"gone": true|false, "after": seconds}.

Run from the repository root (tests/ is a package). Output is the protocol with the test, so
it goes to stdout; zeroconf's own logging goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time

from e2a_node.discovery import MdnsAnnouncer, MdnsDiscovery


def _emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def announce(args: argparse.Namespace) -> None:
    props = dict(p.split("=", 1) for p in args.prop)
    with MdnsAnnouncer(args.name, args.port, props, interface=args.interface) as announcer:
        _emit({"name": announcer.instance_name})
        sys.stdin.read()


def browse(args: argparse.Namespace) -> None:
    with MdnsDiscovery(interface=args.interface) as discovery:
        found = discovery.wait_for(args.count, args.timeout)
        _emit([dataclasses.asdict(n) for n in found])
        if args.until_gone:
            start = time.monotonic()
            deadline = start + args.timeout
            while discovery.nodes() and time.monotonic() < deadline:
                time.sleep(0.05)
            _emit({"gone": not discovery.nodes(), "after": round(time.monotonic() - start, 2)})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="mdns_helper")
    sub = parser.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("announce")
    a.add_argument("name")
    a.add_argument("port", type=int)
    a.add_argument("--interface")
    a.add_argument("--prop", action="append", default=[])
    b = sub.add_parser("browse")
    b.add_argument("--interface")
    b.add_argument("--count", type=int, default=1)
    b.add_argument("--timeout", type=float, default=5.0)
    b.add_argument("--until-gone", action="store_true")
    args = parser.parse_args()
    announce(args) if args.cmd == "announce" else browse(args)


if __name__ == "__main__":
    main()

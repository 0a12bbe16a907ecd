"""A private LAN of network namespaces (scripts/netns_lan.sh) as a pytest fixture.

`lan` yields the namespace prefix: namespaces PREFIX1..PREFIX3 hold 10.77.0.1..3 on eth0,
joined by a bridge in a namespace of its own; the host's interfaces are never touched. Needs
root and `ip netns`; the test is skipped, with the reason printed, otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "netns_lan.sh"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 `ip` not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` unavailable: {probe.stderr.strip()}"
    return None


@pytest.fixture
def lan():
    reason = _skip_reason()
    if reason:
        print(f"skipping netns test: {reason}")
        pytest.skip(reason)
    prefix = f"e2at{os.getpid()}x"
    try:
        up = subprocess.run(["bash", str(SCRIPT), "up", "3", prefix], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHON": sys.executable})
        if up.returncode != 0:
            if "Operation not permitted" in up.stderr or "Permission denied" in up.stderr:
                print(f"skipping netns test: {up.stderr.strip()}")
                pytest.skip(f"cannot create network namespaces: {up.stderr.strip()}")
            pytest.fail(f"netns_lan.sh up failed:\n{up.stdout}\n{up.stderr}")
        yield prefix
    finally:
        subprocess.run(["bash", str(SCRIPT), "down", prefix], capture_output=True, timeout=60)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert prefix not in left

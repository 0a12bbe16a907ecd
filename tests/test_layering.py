"""Which package may import which: the rules each package's docstring states, checked.

The table is the one place these rules are written as code. A package not named here (the
top-level modules: cli, convert, serve, node, job, ...) is the wiring and may import anything
below it. Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "e2a_node"

# package -> the e2a_node modules and packages it may import (besides itself)
MAY_IMPORT = {
    "scheduler": set(),
    "text": {"layout"},
    "book": {"errors"},
    "audio": {"errors", "layout", "memory"},
    "synth": {"audio", "errors"},
    "discovery": {"errors", "wire"},
    "voices": {"errors", "synth"},
    "cluster": {"audio", "clusterkey", "discovery", "errors", "job", "layout", "peer_checks", "scheduler",
                "synth", "worker"},
}
# third-party wire libraries and where they may appear
ONLY_IN = {"grpc": {"rpc"}, "google": {"rpc"}, "zeroconf": {"discovery"}, "ifaddr": {"discovery"}}


def imports_of(source: str, package: tuple[str, ...]) -> set[str]:
    """Absolute dotted names imported by one file of `package`, relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module)
    return names


def violations(source: str, relative: Path) -> list[str]:
    """What a file at `relative` (to e2a_node/) imports that its layer may not."""
    own = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    package = ("e2a_node", *relative.parts[:-1])
    found = []
    for name in sorted(imports_of(source, package)):
        first, _, rest = name.partition(".")
        if first == "e2a_node" and rest:
            target = rest.split(".")[0]
            if own in MAY_IMPORT and target != own and target not in MAY_IMPORT[own]:
                found.append(f"{relative} imports {name}")
        elif first in ONLY_IN and own not in ONLY_IN[first]:
            found.append(f"{relative} imports {name}; only {sorted(ONLY_IN[first])} may")
    return found


FILES = sorted(p for p in ROOT.rglob("*.py") if not p.name.endswith(("_pb2.py", "_pb2_grpc.py")))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path):
    assert violations(path.read_text(), path.relative_to(ROOT)) == []


def test_the_checker_finds_lazy_upward_and_relative_imports():
    source = ("from .policy import Policy\n"
              "def f():\n    from e2a_node.rpc import client\n    import grpc\n"
              "from ..convert import convert\n")
    assert violations(source, Path("scheduler/state.py")) == [
        "scheduler/state.py imports e2a_node.convert",
        "scheduler/state.py imports e2a_node.rpc",
        "scheduler/state.py imports grpc; only ['rpc'] may",
    ]
    assert violations("from e2a_node.scheduler import Tick\nimport zeroconf\n", Path("convert.py")) == [
        "convert.py imports zeroconf; only ['discovery'] may"]

"""What crosses a node's wire boundary: the texts it sends (`public`: no filesystem paths, one
bounded line) and requests that do not parse (`UNPARSED`, handed to the handlers by `lenient`
deserializers instead of a traceback inside gRPC per message)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from google.protobuf.message import DecodeError

# Texts sent to the other side: one line, no longer than this.
PUBLIC_TEXT_CHARS = 500


def _private_roots() -> re.Pattern:
    """The folders of this process (home, working folder, temp, Python), which may hold spaces."""
    roots = {str(Path.home()), os.getcwd(), tempfile.gettempdir(), sys.prefix, sys.base_prefix}
    roots = sorted((r for r in roots if len(r) > 1), key=len, reverse=True)
    return re.compile("(?:" + "|".join(map(re.escape, roots)) + r")(?![\w.-])")


_ROOTS = _private_roots()
# An absolute POSIX path (not the "/" inside a name like tts_models/en/vits or a URL), a path
# from the home folder, or a Windows one.
_PATH = re.compile(r"(?<![\w.:/~-])~?/[^\s'\"`<>|;:,()\[\]{}]+|\b[A-Za-z]:\\[^\s'\"`<>|;,()\[\]{}]*")
_REPEATED = re.compile(r"(?:<path>)+")


def public(text: str) -> str:
    """`text` fit to send to the other side: the node's filesystem paths replaced by "<path>",
    one line of at most PUBLIC_TEXT_CHARS. Every reason and error a node sends goes through it."""
    text = _ROOTS.sub("<path>", " ".join(str(text).split()))
    text = _REPEATED.sub("<path>", _PATH.sub("<path>", text))
    return text if len(text) <= PUBLIC_TEXT_CHARS else text[: PUBLIC_TEXT_CHARS - 1] + "…"


class _Unparsed:
    """What a request that does not parse arrives as (gRPC would log a traceback per message)."""


UNPARSED = _Unparsed()


def lenient(parse):
    def deserialize(data: bytes):
        try:
            return parse(data)
        except DecodeError:
            return UNPARSED
    return deserialize

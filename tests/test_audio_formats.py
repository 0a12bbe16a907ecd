"""The format table (e2a_node.audio.formats): one list for the exporter and the command line,
readable without loading the audio stack."""

from __future__ import annotations

import json
import subprocess
import sys

from e2a_node.audio import export
from e2a_node.audio.formats import DEFAULT_FORMAT, FORMAT_NAMES, FORMATS


def test_names_in_the_order_users_see_them():
    assert FORMAT_NAMES == ("m4b", "m4a", "mp3", "opus", "flac", "wav") == tuple(FORMATS)
    assert DEFAULT_FORMAT == FORMAT_NAMES[0]
    assert all(spec.ext == name for name, spec in FORMATS.items())
    assert export.FORMATS is FORMATS and export.DEFAULT_FORMAT == DEFAULT_FORMAT


def test_reading_the_table_loads_no_audio_stack():
    code = ("import json, sys; from e2a_node.audio.formats import FORMAT_NAMES;"
            "print(json.dumps([m for m in ('numpy', 'scipy', 'e2a_node.audio.export') if m in sys.modules]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == []


def test_package_names_load_on_first_use():
    code = ("import json, e2a_node.audio.probe, e2a_node.audio.store;"
            "from e2a_node.audio import SegmentStore, Tags, probe, write_audiobook;"
            "print(json.dumps([probe.__module__, SegmentStore.__module__, Tags.__module__, write_audiobook.__name__]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(run.stdout) == ["e2a_node.audio.probe", "e2a_node.audio.store", "e2a_node.audio.export",
                                      "write_audiobook"]

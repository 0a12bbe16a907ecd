#!/usr/bin/env bash
# Set up e2a in ./.venv (idempotent): CPU torch first, then e2a with the coqui and dev extras.
# Usage: bash scripts/setup.sh            (E2A_PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${E2A_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# A bare `torch` (or one pulled in by coqui-tts) is a multi-GB CUDA build; this pin takes the
# CPU wheel. Users with a GPU install their CUDA torch first and this step keeps it.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    "${PIP[@]}" "torch==2.13.0"
fi
"${PIP[@]}" -e ".[coqui,dev]"
# PyPI's torchaudio is built against CUDA; next to a CPU torch its compiled extension fails to
# load and `import torchaudio` (hence `import TTS`) raises. Coqui only needs its pure-Python
# parts (Resample), and torchaudio runs without the extension when the library files are absent.
if ! .venv/bin/python -c "import torchaudio" 2>/dev/null; then
    rm -f .venv/lib/python*/site-packages/torchaudio/lib/*.so
    .venv/bin/python -c "import torchaudio"
fi

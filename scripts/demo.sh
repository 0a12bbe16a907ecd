#!/usr/bin/env bash
# Fresh machine -> the sample book read aloud, offline, with the bundled voice.
# Usage: bash scripts/demo.sh        (writes out/aesop-fables.m4b)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/e2a convert samples/aesop-fables.epub -o out/aesop-fables.m4b "$@"

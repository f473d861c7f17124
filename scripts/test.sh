#!/usr/bin/env bash
# Installs everything (scripts/setup.sh dev) and runs the whole test suite, the integration tests
# against the real local llama.cpp server included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
exec .venv/bin/python -m pytest -q "$@"

#!/usr/bin/env bash
# The whole test suite (README's second command). Uses .venv if present.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .venv/bin/activate ] && . .venv/bin/activate
exec python -m pytest -q "$@"

#!/usr/bin/env bash
# The whole test suite (the README's second command). Sets up .venv on first use.
set -euo pipefail
. "$(dirname "$0")/_env.sh"
exec python -m pytest -q "$@"

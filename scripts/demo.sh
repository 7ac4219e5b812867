#!/usr/bin/env bash
# The main job (the README's first command): the seed agent, streaming, offline unless
# ANTHROPIC_API_KEY is set. Sets up .venv on first use.
set -euo pipefail
. "$(dirname "$0")/_env.sh"
exec python examples/async_agent.py "$@"

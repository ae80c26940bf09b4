"""Compare a library suite's per-test outcomes: plain run vs install() run.

Usage:
  python compare_library_outcomes.py LABEL PLAIN.json INSTALLED.json KNOWN.txt [SUMMARY]

PLAIN.json / INSTALLED.json are what library_plugin.py wrote (node id ->
[outcome, message]). KNOWN.txt lists the tests that fail in the plain run
too (one node id per line, then ``  # reason``; the format of
expected_differences.txt), e.g. because they need the internet.

The acceptance: with install(), no failure that the plain run lacks. So:

- a regression is a test that passed (or skipped, or xfailed) plain and
  failed or errored installed, or was not run at all installed;
- a test failing in both runs is not a regression, but must be in KNOWN.txt
  (with its reason); an unlisted plain failure, or a listed test that no
  longer fails plain (a stale entry), fails the comparison too;
- an entry whose reason starts with "FLAKY" is a test that fails now and
  then with plain requests as well: it runs in both modes, its outcomes are
  shown, and neither counts (nor makes the entry stale).

Prints the counts of both runs, the regressions, the known failures and any
other change of outcome (e.g. passed -> skipped), and appends one
tab-separated line to SUMMARY if given (label, plain counts, installed
counts, regressions). Exit status: 0 when clean, 1 on a regression, 2 when
only the known-failures list is out of date.
"""

from __future__ import annotations

import collections
import json
import pathlib
import sys

import reason_lists

BAD = frozenset({"failed", "error"})
ORDER = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def read_known(path: pathlib.Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return reason_lists.read(path, sys.exit)


def read_outcomes(path: pathlib.Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    outcomes: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
    return outcomes


def counts(outcomes: dict[str, list[str]]) -> str:
    tally = collections.Counter(outcome for outcome, _ in outcomes.values())
    parts = [f"{tally[name]} {name}" for name in ORDER if tally[name]]
    return ", ".join(parts) or "nothing ran"


def main(argv: list[str]) -> int:
    if len(argv) not in (5, 6):
        sys.exit(__doc__)
    label = argv[1]
    plain_path, installed_path, known_path = map(pathlib.Path, argv[2:5])
    summary = pathlib.Path(argv[5]) if len(argv) == 6 else None
    plain = read_outcomes(plain_path)
    installed = read_outcomes(installed_path)
    known = read_known(known_path)
    flaky = {node for node, reason in known.items() if reason.startswith("FLAKY")}

    regressions: list[tuple[str, str, str, str]] = []
    both: list[tuple[str, str]] = []
    unlisted: list[tuple[str, str]] = []
    changed: list[tuple[str, str, str]] = []
    flaky_outcomes: list[tuple[str, str, str, str]] = []
    for node in sorted(set(plain) | set(installed)):
        before, before_msg = plain.get(node, ["not run", ""])
        after, after_msg = installed.get(node, ["not run", "not collected or not run"])
        if node in flaky:
            flaky_outcomes.append((node, before, after, known[node]))
        elif before in BAD:
            if node not in known:
                unlisted.append((node, f"{before}: {before_msg}"))
            elif after in BAD:
                both.append((node, known[node]))
            else:
                changed.append((node, before, after))
        elif after in BAD or (after == "not run" and before != "not run"):
            regressions.append((node, before, after, after_msg))
        elif before != after:
            changed.append((node, before, after))
    stale = sorted(
        node
        for node in known
        if node not in flaky and plain.get(node, ["not run"])[0] not in BAD
    )
    stale += sorted(node for node in flaky if node not in plain)

    print(f"== {label}")
    if not plain_path.exists():
        print(f"   the plain run wrote no outcomes ({plain_path.name} missing)")
    if not installed_path.exists():
        print(f"   the installed run wrote no outcomes ({installed_path.name} missing)")
    print(f"   plain:     {counts(plain)}")
    print(f"   installed: {counts(installed)}")
    print(f"   regressions (failing with install(), not plain): {len(regressions)}")
    for node, before, after, message in regressions:
        print(f"     {node}  [{before} -> {after}] {message}")
    if both:
        print(f"   failing in both runs, listed in {known_path.name}: {len(both)}")
        by_reason: dict[str, list[str]] = collections.defaultdict(list)
        for node, reason in both:
            by_reason[reason].append(node)
        for reason, nodes in sorted(by_reason.items(), key=lambda item: -len(item[1])):
            print(f"     {len(nodes):3d} x {reason}")
    if flaky_outcomes:
        print(
            "   flaky with plain requests too (listed FLAKY, outcomes not "
            f"compared): {len(flaky_outcomes)}"
        )
        for node, before, after, reason in flaky_outcomes:
            print(f"     {node}  [{before} / {after}] {reason}")
    if unlisted:
        print(
            f"   failing plain but not listed in {known_path.name} "
            f"(add with a reason): {len(unlisted)}"
        )
        for node, message in unlisted:
            print(f"     {node}  {message}")
    if stale:
        print(
            f"   listed in {known_path.name} but not failing plain "
            f"(remove): {len(stale)}"
        )
        for node in stale:
            print(f"     {node}  [{plain.get(node, ['not run'])[0]}]")
    if changed:
        print(f"   other changes of outcome (not regressions): {len(changed)}")
        for node, before, after in changed:
            print(f"     {node}  [{before} -> {after}]")
    missing_run = not plain_path.exists() or not installed_path.exists()
    if summary is not None:
        with summary.open("a", encoding="utf-8") as out:
            fields = (label, counts(plain), counts(installed), str(len(regressions)))
            out.write("\t".join(fields) + "\n")
    if regressions or not installed_path.exists():
        return 1
    if unlisted or stale or missing_run:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

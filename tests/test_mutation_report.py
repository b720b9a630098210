"""The mutation report's bookkeeping (bench/mutation.py): a survivor's reason is found by its
function and the fingerprint of its change, so a reason written for one change never explains
another after mutmut renumbers a function's mutants, and a reason that explains nothing is
listed as stale."""
from __future__ import annotations

import pytest

from bench.mutation import Mutant, fingerprint, load_reasons, match_reasons, render, stamp

DIFF_ROUND = """--- routing/router.py
+++ routing/router.py
@@ -1,2 +1,2 @@
 def _answer(s, now):
-    return round(s.age(now), 3)
+    return round(s.age(now), 4)
"""
DIFF_NONE = DIFF_ROUND.replace("round(s.age(now), 4)", "round(s.age(now), None)")


def survivor(number: int, diff: str, fn: str = "routing.router.x__answer") -> Mutant:
    return Mutant(name=f"{fn}__mutmut_{number}", path="routing/router.py", status="survived",
                  diff=diff)


def test_fingerprint_is_the_change_not_the_headers_or_context():
    moved = DIFF_ROUND.replace("@@ -1,2 +1,2 @@", "@@ -7,2 +7,2 @@").replace(
        "def _answer(s, now):", "def _answer(s, now, extra=None):")
    assert fingerprint(moved) == fingerprint(DIFF_ROUND)
    assert fingerprint(DIFF_NONE) != fingerprint(DIFF_ROUND)
    assert len(fingerprint(DIFF_ROUND)) == 10


def test_reason_follows_its_change_when_mutants_are_renumbered(tmp_path):
    reasons = tmp_path / "reasons.txt"
    reasons.write_text(
        "# comment\n\n"
        f"routing.router.x__answer__mutmut_19 [{fingerprint(DIFF_ROUND)}]: equivalent: ages are "
        "shown to the millisecond\n", encoding="utf-8")
    # the function gained a mutant before this one: number 19 is now 20, and 19 is another change
    renumbered = [survivor(19, DIFF_NONE), survivor(20, DIFF_ROUND)]
    stale = match_reasons(renumbered, load_reasons(reasons))
    assert stale == []
    assert renumbered[1].reason == "equivalent: ages are shown to the millisecond"
    assert renumbered[0].reason is None           # NOT EXPLAINED, though it has the old number


def test_reason_of_a_killed_or_changed_mutant_is_stale_and_reported(tmp_path):
    reasons = tmp_path / "reasons.txt"
    reasons.write_text(f"routing.router.x__answer__mutmut_19 [{fingerprint(DIFF_ROUND)}]: why\n"
                       "routing.router.x__answer__mutmut_3: never stamped\n", encoding="utf-8")
    killed = Mutant(name="routing.router.x__answer__mutmut_19", path="routing/router.py",
                    status="killed")
    mutants = [killed, survivor(3, DIFF_NONE)]
    stale = match_reasons(mutants, load_reasons(reasons))
    assert [r.line for r in stale] == [1, 2]
    report = render(mutants, 60.0, stale, 2)
    assert "NOT EXPLAINED: 1" in report
    assert "line 1: routing.router.x__answer__mutmut_19" in report
    assert "line 2: routing.router.x__answer__mutmut_3 [no fingerprint]" in report


def test_stamp_adds_the_current_fingerprint_only_where_missing(tmp_path):
    reasons = tmp_path / "reasons.txt"
    reasons.write_text("# header\n"
                       "routing.router.x__answer__mutmut_19: equivalent: reason one\n"
                       "routing.router.x__answer__mutmut_20 [0123456789]: reason two\n",
                       encoding="utf-8")
    assert stamp([survivor(19, DIFF_ROUND), survivor(20, DIFF_NONE)], reasons) == 1
    lines = reasons.read_text(encoding="utf-8").splitlines()
    assert lines == ["# header",
                     f"routing.router.x__answer__mutmut_19 [{fingerprint(DIFF_ROUND)}]: "
                     "equivalent: reason one",
                     "routing.router.x__answer__mutmut_20 [0123456789]: reason two"]


def test_a_malformed_reason_line_names_the_file_and_line(tmp_path):
    reasons = tmp_path / "reasons.txt"
    reasons.write_text("routing.router.x__answer__mutmut_19 no colon here\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"reasons.txt:1: expected 'mutant name \[fingerprint\]"):
        load_reasons(reasons)

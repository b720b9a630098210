"""`python -m bench.mutation`: mutation testing of routing/ and providers/base.py with mutmut and
the fast unit tests (setup.cfg `[mutmut]`), then a report in bench/results/mutation-<UTC>.md.

Every surviving mutant must have a one-line reason in bench/mutation_equivalent.txt (why it is
equivalent, or why no test can tell it apart); one without is listed as NOT EXPLAINED and the
command exits 1. A reason names its mutant and carries a fingerprint of the mutant's change
(`name [fingerprint]: reason`). mutmut numbers mutants in the order they occur in a function, so
a number can point to another change after the function is edited; a reason is therefore
matched by its function and fingerprint, never by number alone, and one that matches nothing is
listed as stale. Not in CI: a full run takes about 40 minutes on 2 cores (see the README).

    python -m bench.mutation                  fresh run (deletes mutants/), 2 child processes
    python -m bench.mutation --reuse          keep mutmut's cached results of unchanged functions
    python -m bench.mutation --retest-survivors   --reuse, then test every survivor again (after
                                              tests were added: mutmut keeps a verdict otherwise)
    python -m bench.mutation --report-only    no run: report on the results already in mutants/
    python -m bench.mutation --stamp          add fingerprints to reasons written without one
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REASONS_FILE = ROOT / "bench" / "mutation_equivalent.txt"
MUTATED = ("routing/", "providers/base.py")

# mutmut's exit-code verdicts (mutmut.stats.status_by_exit_code), folded into three outcomes:
# a timeout or a type-check failure means a test (or the checker) noticed the change.
KILLED = {"killed", "timeout", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious", "skipped", "segfault", "not checked",
            "check was interrupted by user"}


@dataclass
class Mutant:
    name: str
    path: str
    status: str
    diff: str = ""
    reason: str | None = None

    @property
    def function(self) -> str:
        """The mutated function's mangled name: the mutant name without `__mutmut_<n>`."""
        return self.name.rpartition("__mutmut_")[0]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.diff)

    @property
    def killed(self) -> bool:
        return self.status in KILLED


def fingerprint(diff: str) -> str:
    """A short hash of a mutant's change: its removed and added lines, stripped, in order (not
    the headers, not the context, so it survives edits elsewhere in the function)."""
    changed = [line[1:].strip() for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return hashlib.sha1("\n".join(changed).encode()).hexdigest()[:10]


@dataclass
class Reason:
    name: str
    fingerprint: str | None
    text: str
    line: int


def load_reasons(path: Path = REASONS_FILE) -> list[Reason]:
    """`mutant name [fingerprint]: reason` per line (the fingerprint may be missing until
    `--stamp` adds it); blank lines and lines starting with # are ignored."""
    reasons: list[Reason] = []
    if not path.exists():
        return reasons
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, text = line.partition(": ")
        name, _, fp = head.partition(" [")
        if not sep or not text.strip() or (fp and not fp.endswith("]")):
            raise SystemExit(f"{path}:{number}: expected 'mutant name [fingerprint]: reason', "
                             f"got {line!r}")
        reasons.append(Reason(name.strip(), fp[:-1] or None, text.strip(), number))
    return reasons


def match_reasons(mutants: list["Mutant"], reasons: list[Reason]) -> list[Reason]:
    """Give each survivor the reason whose function and fingerprint match its own change;
    returns the reasons that matched no survivor (stale, or not yet stamped)."""
    by_change = {(r.name.rpartition("__mutmut_")[0], r.fingerprint): r
                 for r in reasons if r.fingerprint}
    used: set[int] = set()
    for m in mutants:
        if m.killed or m.status == "not checked":
            continue
        r = by_change.get((m.function, m.fingerprint))
        if r is not None:
            m.reason = r.text
            used.add(r.line)
    return [r for r in reasons if r.line not in used]


def stamp(mutants: list["Mutant"], path: Path = REASONS_FILE) -> int:
    """Add the current fingerprint to every reason written without one, found by its mutant
    name (check the diff in the report first: the name is only right for the current code)."""
    by_name = {m.name: m for m in mutants if not m.killed and m.diff}
    lines = path.read_text(encoding="utf-8").splitlines()
    stamped = 0
    for r in load_reasons(path):
        m = by_name.get(r.name)
        if r.fingerprint is None and m is not None:
            lines[r.line - 1] = f"{r.name} [{m.fingerprint}]: {r.text}"
            stamped += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return stamped


def run_mutmut(max_children: int, reuse: bool, names: list[str] | None = None) -> float:
    """Run `mutmut run` in the repository root (only the named mutants, tested again, when
    `names` is given); returns its wall time in seconds."""
    if not reuse:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children),
                           *(names or [])],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"mutmut run exited {proc.returncode}")
    return took


def read_results() -> list[Mutant]:
    """Read mutmut's per-file .meta results and each survivor's diff (mutmut's own helpers, which
    read setup.cfg from the working directory, hence the chdir)."""
    os.chdir(ROOT)
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    mutants: list[Mutant] = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _natural(kv[0])):
            m = Mutant(name=name, path=str(path), status=status_by_exit_code[code])
            if not m.killed and m.status != "not checked":   # an interrupted run: no diff
                m.diff = get_diff_for_mutant(name, path=path)
            mutants.append(m)
    return mutants


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (name, 0)


def rate(ms: list[Mutant]) -> str:
    if not ms:
        return "n/a"
    killed = sum(m.killed for m in ms)
    return f"{100 * killed / len(ms):.1f} % ({killed}/{len(ms)})"


def render(mutants: list[Mutant], run_s: float | None, stale: list[Reason],
           max_children: int) -> str:
    by_file: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_file[m.path].append(m)
    routing = [m for m in mutants if m.path.startswith("routing/")]
    survivors = [m for m in mutants if not m.killed]
    unexplained = [m for m in survivors if m.reason is None]
    lines = [
        f"# Mutation testing, {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "`python -m bench.mutation` (mutmut, config in setup.cfg `[mutmut]`), "
        f"{max_children} child processes.",
        "",
        f"- mutants: {len(mutants)}",
        f"- killed overall: {rate(mutants)}",
        f"- killed in routing/: {rate(routing)}",
        f"- survivors: {len(survivors)}, explained in bench/mutation_equivalent.txt: "
        f"{len(survivors) - len(unexplained)}, NOT EXPLAINED: {len(unexplained)}",
        f"- run time: {_duration(run_s)}",
        "",
        "Killed counts mutmut's `killed`, `timeout` and `caught by type check`; every other "
        "verdict (`survived`, `no tests`, ...) is a survivor.",
        "",
        "| File | Mutants | Killed | Survivors |",
        "|---|---:|---:|---:|",
    ]
    for path in sorted(by_file):
        ms = by_file[path]
        lines.append(f"| {path} | {len(ms)} | {rate(ms)} | {sum(not m.killed for m in ms)} |")
    lines += ["", "## Survivors", ""]
    if not survivors:
        lines.append("None.")
    for m in survivors:
        lines += [f"### {m.name} [{m.fingerprint}] ({m.status})", "",
                  f"Reason: {m.reason if m.reason is not None else 'NOT EXPLAINED'}", "",
                  "```diff", m.diff, "```", ""]
    if stale:
        lines += ["## Reasons that match no survivor", "",
                  "These lines of bench/mutation_equivalent.txt match no surviving change (the "
                  "mutant is killed now, its function changed, or the line has no fingerprint "
                  "yet: see `--stamp`):", ""]
        lines += [f"- line {r.line}: {r.name} [{r.fingerprint or 'no fingerprint'}]"
                  for r in stale]
    return "\n".join(lines) + "\n"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured (--report-only)"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mutation",
                                description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--max-children", type=int, default=2,
                   help="mutmut's parallel test processes (default 2)")
    p.add_argument("--reuse", action="store_true",
                   help="keep mutants/ so mutmut reruns only what changed")
    p.add_argument("--retest-survivors", action="store_true",
                   help="like --reuse, then test every surviving mutant again with today's tests")
    p.add_argument("--report-only", action="store_true",
                   help="do not run mutmut; report on the results in mutants/")
    p.add_argument("--stamp", action="store_true",
                   help="no run: add fingerprints to the reasons written without one, by name")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                   help="report directory (default bench/results)")
    args = p.parse_args(argv)
    if args.max_children < 1:
        p.error("--max-children must be at least 1")

    reasons = load_reasons()
    run_s = None if (args.report_only or args.stamp) else run_mutmut(
        args.max_children, args.reuse or args.retest_survivors)
    if args.retest_survivors:
        again = [m.name for m in read_results() if not m.killed]
        run_s = (run_s or 0.0) + run_mutmut(args.max_children, True, again)
    mutants = read_results()
    if not mutants:
        print("no mutmut results in mutants/: run without --report-only first", file=sys.stderr)
        return 1
    if args.stamp:
        print(f"stamped {stamp(mutants)} reasons in {REASONS_FILE.relative_to(ROOT)}")
        reasons = load_reasons()
    stale = match_reasons(mutants, reasons)
    report = render(mutants, run_s, stale, args.max_children)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"mutation-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.md"
    out.write_text(report, encoding="utf-8")
    unexplained = [m for m in mutants if not m.killed and m.reason is None]
    routing = [m for m in mutants if m.path.startswith("routing/")]
    print(f"mutants {len(mutants)}, killed {rate(mutants)}, routing/ {rate(routing)}, "
          f"run {_duration(run_s)}, NOT EXPLAINED {len(unexplained)}, stale reasons {len(stale)} "
          f"-> {out}")
    (args.out / "mutation-latest.json").write_text(json.dumps(
        {"report": out.name, "mutants": len(mutants), "killed": sum(m.killed for m in mutants),
         "routing_mutants": len(routing), "routing_killed": sum(m.killed for m in routing),
         "run_s": run_s, "not_explained": [m.name for m in unexplained],
         "stale_reasons": [r.line for r in stale]}, indent=2) + "\n")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())

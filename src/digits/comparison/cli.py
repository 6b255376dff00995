"""digits-compare: compare runs (commits, branches, tags, experiments) on one offline page.

    digits-compare                            # HEAD, the workspace and HEAD's experiments
    digits-compare main my-branch exp-a exp-b # the first one, main, is the baseline
    digits-compare main HEAD --md - --fail-on accuracy=-0.001   # a review's CI job

Writes one self-contained HTML page (--html), and Markdown for a review comment
(--md, "-" for stdout) and the numbers behind both (--json) when asked; each file is
written whole or not at all. `workspace` names the working tree.

--fail-on METRIC=TOLERANCE, repeatable, is a regression gate: METRIC is a metric's
name within its file (accuracy, macro.f1, eval.loss) or its full key
(results/evaluation.json:accuracy); TOLERANCE is how much worse it may get than the
baseline, in its own units and signed in the direction of worse: accuracy=-0.001,
loss=0.01. Exit status 1, with one line per run and metric beyond its tolerance, when
any is; 2, with one line and nothing written, for an unknown revision or experiment
or a bad option; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from digits import storage
from digits.cli import FAILED, OK, SOME_FAILED, configure_logging, error
from digits.comparison import analysis, markdown, page, runs
from digits.errors import InputError

DEFAULT_HTML = Path("compare.html")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="digits-compare",
        description="Compare runs: params, metrics, curves, per-class scores, confusions "
        "and changed digits, as one HTML page that works offline.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("revs", nargs="*", metavar="REV_OR_EXP", help="commits, refs, experiments")
    cli.add_argument("--baseline", metavar="REV_OR_EXP", help="the run to compare against")
    cli.add_argument("--html", type=Path, default=DEFAULT_HTML, help=f"page ({DEFAULT_HTML})")
    cli.add_argument("--md", metavar="FILE", help="Markdown for a review comment; - for stdout")
    cli.add_argument("--json", type=Path, metavar="FILE", help="the numbers, as JSON")
    cli.add_argument(
        "--fail-on", action="append", default=[], metavar="METRIC=TOLERANCE", help="a gate"
    )
    cli.add_argument("--repo", type=Path, default=Path("."), help="the DVC project (.)")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(verbose=False)
    logging.getLogger("dvc").setLevel(logging.ERROR)  # what DVC cannot load, the page shows
    from dvc.exceptions import NotDvcRepoError

    try:
        found = runs.collect(args.repo, args.revs, args.baseline)
        keys = list(dict.fromkeys(key for run in found for key in run.metrics))
        tolerances = analysis.parse_tolerances(args.fail_on, keys)
    except InputError as failure:
        error(str(failure))
        return FAILED
    except NotDvcRepoError:
        error(f"{args.repo.resolve()} is not in a DVC project; give --repo or cd into one")
        return FAILED
    failures = analysis.gate(found, tolerances)
    images, note = _test_images(args.repo, found)
    storage.write_text(args.html, page.render(found, failures, tolerances, images, note))
    text = markdown.render(found, failures, tolerances)
    if args.md == "-":
        sys.stdout.write(text)
    elif args.md:
        storage.write_text(args.md, text)
    if args.json:
        summary = analysis.summary(found, tolerances, failures)
        storage.write_text(args.json, json.dumps(summary, indent=1) + "\n")
    for line in failures:
        print(line, file=sys.stderr if args.md == "-" else sys.stdout)
    return SOME_FAILED if failures else OK


def _test_images(root: Path, found: list[runs.Run]):
    """The test images of the baseline when some run can be matched with it digit by digit."""
    baseline = found[0]
    reasons = [analysis.comparable(baseline, run) for run in found[1:]]
    if all(reasons):
        return None, reasons[0] if reasons else "only one run"
    try:
        return runs.test_images(root, baseline), None
    except InputError as failure:
        return None, str(failure)


if __name__ == "__main__":
    sys.exit(main())

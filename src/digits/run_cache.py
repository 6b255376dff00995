"""Push the outputs that the run-cache's entries point to, so teammates restore instead of re-run.

`dvc push --run-cache` uploads the run-cache's entries (which params, code and data gave
which outputs), but DVC 3 uploads only the outputs of the pushed commit, not the outputs
of every run an entry records. A teammate's `dvc repro --pull` then finds the entry for
params a colleague already ran, cannot fetch its model and metrics, and trains again.
`python -m digits.run_cache push` uploads those outputs, metrics and plots included
(`cache: false` outputs live in Git for commits, but a run-cache entry restores them
from the DVC cache). Run it after `dvc push --run-cache`; it sends only what the remote
lacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def push_run_outputs(remote: str | None = None, root: str = ".") -> tuple[int, int]:
    """Push the outputs of every local run-cache entry; return (runs, files pushed)."""
    from dvc.exceptions import UploadError
    from dvc.repo import Repo

    with Repo(root) as repo:
        runs = Path(repo.stage_cache.cache_dir)
        entries = [(path.parent.name, path.name) for path in sorted(runs.glob("*/*/*"))]
        pushed = 0
        for odb, objects in repo.stage_cache.get_used_objs(entries).items():
            result = repo.cloud.push(objects, remote=remote, odb=odb)
            if result.failed:
                raise UploadError(len(result.failed))
            pushed += len(result.transferred)
    return len(entries), pushed


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m digits.run_cache", description=__doc__)
    commands = cli.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="push the outputs of every run in the run-cache")
    push.add_argument("-r", "--remote", help="the DVC remote (default: the default remote)")
    args = cli.parse_args(argv)
    try:
        runs, pushed = push_run_outputs(args.remote)
    except Exception as error:  # a CLI: any failure becomes one line and exit status 1
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"{pushed} files pushed for {runs} runs in the run-cache")
    return 0


if __name__ == "__main__":
    sys.exit(main())

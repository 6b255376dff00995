"""A sweep across machines, shipped and cleaned up, as the README's Tune section says.

A bare Git repository is the team's Git server, `rclone serve s3` on 127.0.0.1 the team's
DVC remote, and clones of the bare repository are the machines. The README's commands run
as written (through `tuning.readme`), with its `$NAME` placeholders in the environment:

- two machines each clone, `dvc pull`, queue their own share of the grid and run it: every
  experiment succeeds, none runs `download` or `normalize` again, and `dvc exp push origin`
  leaves each one's ref on origin and its outputs in the bucket;
- a third clone gets both machines' experiments with `dvc exp pull origin`, lists them with
  their params and metrics, and applies one of each machine, byte for byte what that
  machine had, without running a stage;
- the winner, promoted on `main` and tagged `digits-classifier@v1.1.0`, comes out of `dvc
  artifacts get` in an empty folder given the Git repository and S3 credentials alone:
  one file, the promoted model;
- once the losers are removed, `dvc gc --cloud` leaves in the bucket exactly what `main`,
  the tag and the kept experiments use, and a new teammate still pulls `main` and applies
  a kept experiment.

Every Python process the tests start (DVC, its queue workers, the stages) carries an audit
hook that refuses and records any connection beyond 127.0.0.1; each test checks there was
none. The places where the README's words are not enough are marked "README:" below.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import digests, dvc, environment, git, make_repo, run, stages_run
from servers import Remote, S3Server, configure_locally
from tuning import detached, experiments, queue_status, readme

pytestmark = [pytest.mark.remote, pytest.mark.pipeline]

REMOTE = "storage"  # the README's name for the team's DVC remote
SHARES = {"a": "0.002,0.004", "b": "0.008,0.016"}  # the README's CI matrix of two machines
BATCH_SIZES = (128, 256)  # range(128,257,128)
TAG = "digits-classifier@v1.1.0"
UP_TO_DATE = "Data and pipelines are up to date."
EXPERIMENT_REF = re.compile(r"refs/exps/[0-9a-f]{2}/[0-9a-f]{38}/(?P<name>[^/]+)")

# Loaded by every Python process of these tests as `sitecustomize` (through PYTHONPATH).
NETWORK_GUARD = '''\
"""Refuse, and record in $TUNE_TEAM_NETWORK_LOG, any connection beyond 127.0.0.1."""
import os
import sys

LOOPBACK = {None, "", "127.0.0.1", "localhost", "::1"}


def audit(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event in ("socket.connect", "socket.sendto") and isinstance(args[-1], tuple):
        host = args[-1][0]
    else:
        return
    host = host.decode() if isinstance(host, bytes) else host
    if host in LOOPBACK:
        return
    with open(os.environ["TUNE_TEAM_NETWORK_LOG"], "a") as log:
        log.write(f"{event} {host!r} from {' '.join(sys.argv)}\\n")
    raise OSError(f"tests allow no network beyond 127.0.0.1, not {host!r}")


sys.addaudithook(audit)
'''


def exp_refs(repo: Path, remote: str | None = None) -> dict[str, str]:
    """Experiment name -> its Git ref, in `repo` or, given `remote`, on that Git remote."""
    if remote:
        listing = git(repo, "ls-remote", remote, "refs/exps/*")
    else:
        listing = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps")
    found = {}
    for line in listing.splitlines():
        match = EXPERIMENT_REF.fullmatch(line.split()[1])
        if match:
            found[match["name"]] = match[0]
    return found


def object_name(md5: str) -> str:
    """Where DVC 3 keeps an object, under `files/md5/` of a cache or a remote."""
    return f"{md5[:2]}/{md5[2:]}"


def cached_objects(repo: Path, rev: str) -> set[str]:
    """The objects of the DVC-cached outputs of `rev`: each file, and each directory's
    `.dir` listing with the files it names (read from `repo`'s cache)."""
    cached = set()
    for stage in yaml.safe_load(git(repo, "show", f"{rev}:dvc.yaml"))["stages"].values():
        for out in stage.get("outs", []):
            path, options = (out, {}) if isinstance(out, str) else next(iter(out.items()))
            if (options or {}).get("cache", True):
                cached.add(path)
    names = set()
    for stage in yaml.safe_load(git(repo, "show", f"{rev}:dvc.lock"))["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] in cached:
                names.add(object_name(out["md5"]))
                if out["md5"].endswith(".dir"):
                    listing = repo / ".dvc/cache/files/md5" / object_name(out["md5"])
                    names.update(object_name(e["md5"]) for e in json.loads(listing.read_text()))
    return names


def stored_objects(folder: Path) -> set[str]:
    """The objects under `files/md5/` of a cache or a remote's folder."""
    root = folder / "files" / "md5"
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def ranking(found: dict) -> tuple[float, float]:
    """Higher test accuracy first, then lower test loss (the shrunken runs tie on accuracy)."""
    evaluation = found["metrics"]["results/evaluation.json"]
    return evaluation["accuracy"], -evaluation["loss"]


def experiment_blocks(output: str) -> dict[str, str]:
    """What `dvc exp run --run-all` printed for each experiment (it follows them in turn)."""
    parts = re.split(r"^Reproducing experiment '([^']+)'$", output, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.fixture(scope="module")
def network_log(tmp_path_factory) -> Path:
    """Every process started from here on loads NETWORK_GUARD; the file it writes to.

    DVC's global and system config are empty folders, so no Studio token of this machine's
    user sends `dvc exp push` or `dvc artifacts get` to DVC Studio."""
    folder = tmp_path_factory.mktemp("offline")
    (folder / "sitecustomize.py").write_text(NETWORK_GUARD)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.getenv("PYTHONPATH")]))
        )
        patch.setenv("TUNE_TEAM_NETWORK_LOG", str(folder / "attempts.log"))
        patch.setenv("DVC_GLOBAL_CONFIG_DIR", str(folder / "dvc-global"))
        patch.setenv("DVC_SYSTEM_CONFIG_DIR", str(folder / "dvc-system"))
        for name in ("DVC_STUDIO_TOKEN", "STUDIO_TOKEN"):
            patch.delenv(name, raising=False)
        log = folder / "attempts.log"
        # The guard is loaded and refuses: a lookup of another host fails, and is recorded.
        lookup = "import socket; socket.getaddrinfo('dvc.org', 443)"
        refused = run([sys.executable, "-c", lookup], folder, check=False)
        assert "tests allow no network beyond 127.0.0.1, not 'dvc.org'" in refused.stderr
        assert "socket.getaddrinfo 'dvc.org'" in log.read_text()
        log.unlink()
        yield log


def assert_offline(network_log: Path) -> None:
    attempts = network_log.read_text() if network_log.exists() else ""
    assert attempts == "", f"connections beyond 127.0.0.1:\n{attempts}"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory, network_log):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@dataclass
class Team:
    root: Path
    origin: Path  # the bare Git repository: $TEAM_REPO
    bucket: Path  # the DVC remote's folder on the S3 server's disk
    remote: Remote

    def clone(self, machine: str) -> Path:
        """A machine's clone of the team's repository, with its own S3 credentials."""
        parent = self.root / machine
        parent.mkdir()
        readme(parent, "git clone $TEAM_REPO digits && cd digits", TEAM_REPO=str(self.origin))
        repo = parent / "digits"
        git(repo, "config", "user.email", f"{machine}@example.com")
        git(repo, "config", "user.name", machine)
        configure_locally(repo, REMOTE, self.remote.credentials)
        return repo


@pytest.fixture(scope="module")
def team(tmp_path_factory, s3_server) -> Team:
    """The shrunken pipeline, run once and pushed: `main` on origin, its outputs on S3."""
    root = tmp_path_factory.mktemp("team")
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    remote = s3_server.remote("digits")
    seed = make_repo(root / "seed")
    git(seed, "remote", "add", "origin", str(origin))
    dvc(seed, "remote", "add", "-d", REMOTE, remote.url)
    for option, value in remote.options.items():  # the endpoint URL: shared through Git
        dvc(seed, "remote", "modify", REMOTE, option, value)
    configure_locally(seed, REMOTE, remote.credentials)
    git(seed, "commit", "-q", "-m", "Team remote storage", ".dvc/config")
    dvc(seed, "repro")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "baseline run")
    git(seed, "push", "-q", "origin", "main")
    dvc(seed, "push")
    return Team(root, origin, s3_server.stored("digits"), remote)


@dataclass
class Machine:
    repo: Path
    share: str
    queued: dict[str, str]  # `dvc queue status` before the run
    status: dict[str, str]  # and after it
    sweep: str  # what `dvc exp run --run-all` printed
    pushed: str  # what `dvc exp push origin` printed
    experiments: dict[str, dict]  # name -> params and metrics, from `dvc exp show --json`
    best: str  # this machine's best experiment
    best_outputs: dict[str, str]  # digests of its outputs, applied here


def run_share(team: Team, name: str, share: str) -> Machine:
    """One machine of the README's CI matrix: clone, pull, queue its share, run it, push it."""
    repo = team.clone(f"machine-{name}")
    readme(repo, "dvc pull")
    readme(
        repo,
        """dvc exp run --queue -S "train.learning_rate=$SHARE" -S 'train.batch_size=range(128,257,128)' -S train.threads=1""",  # noqa: E501
        SHARE=share,
    )
    queued = queue_status(repo)
    started = time.monotonic()
    sweep = readme(repo, "dvc exp run --run-all --jobs 2").stdout
    readme(repo, 'test -z "$(dvc queue status | grep -w Failed)"')
    print(f"machine {name}: {len(queued)} experiments in {time.monotonic() - started:.0f} s")
    pushed = readme(repo, "dvc exp push origin").stdout
    shown = experiments(repo)
    best = max(shown, key=lambda experiment: ranking(shown[experiment]))
    readme(repo, "dvc exp apply $EXP", EXP=best)
    return Machine(
        repo, share, queued, queue_status(repo), sweep, pushed, shown, best, digests(repo)
    )


@pytest.fixture(scope="module")
def machines(team) -> dict[str, Machine]:
    """The machines run their shares at the same time, sharing only origin and the bucket."""
    with ThreadPoolExecutor(len(SHARES)) as pool:
        running = {
            name: pool.submit(run_share, team, name, share) for name, share in SHARES.items()
        }
        return {name: future.result() for name, future in running.items()}


@pytest.fixture(scope="module")
def hub(team, machines) -> Path:
    """A third clone, where the team compares: it fetches every machine's experiments."""
    repo = team.clone("hub")
    pulled = readme(repo, "dvc exp pull origin").stdout
    assert "Pulled experiment" in pulled, pulled
    return repo


@dataclass
class Release:
    winner: str
    outputs: dict[str, str]  # digests of the promoted commit's outputs


@pytest.fixture(scope="module")
def release(hub, machines) -> Release:
    """The best experiment of all, promoted on `main`, pushed and tagged as a version."""
    everything = {n: e for machine in machines.values() for n, e in machine.experiments.items()}
    winner = max(everything, key=lambda experiment: ranking(everything[experiment]))
    readme(hub, "dvc exp apply $WINNER", WINNER=winner)
    readme(
        hub,
        'git add params.yaml dvc.lock results && git commit -m "Promote $WINNER"',
        WINNER=winner,
    )
    readme(hub, "dvc push")
    readme(
        hub,
        'git tag -a digits-classifier@v1.1.0 -m "Tuned learning rate" && git push origin main digits-classifier@v1.1.0',  # noqa: E501
    )
    return Release(winner, digests(hub))


def test_each_machine_runs_its_share_of_the_grid_once_and_pushes_it(team, machines, network_log):
    rates = {}
    for machine in machines.values():
        names = set(machine.experiments)
        assert set(machine.queued) == names and set(machine.queued.values()) == {"Queued"}
        assert machine.status == dict.fromkeys(names, "Success")
        rates[machine.share] = {float(rate) for rate in machine.share.split(",")}
        grid = {(rate, size, 1) for rate in rates[machine.share] for size in BATCH_SIZES}
        trained = {
            tuple(
                found["params"]["train"][key] for key in ("learning_rate", "batch_size", "threads")
            )
            for found in machine.experiments.values()
        }
        assert trained == grid and len(names) == len(grid)
        for found in machine.experiments.values():
            assert 0 <= found["metrics"]["results/evaluation.json"]["accuracy"] <= 1
        # `dvc pull` brought main's data: each experiment trained, and skipped the data stages.
        blocks = experiment_blocks(machine.sweep)
        ran = {name: stages_run(block) for name, block in blocks.items()}
        assert ran == {name: {"train", "evaluate", "report"} for name in names}
        for block in blocks.values():
            assert "Stage 'download' didn't change, skipping" in block
            assert "Stage 'normalize' didn't change, skipping" in block
        assert "Pushed experiment" in machine.pushed
        stored = stored_objects(team.bucket)
        for ref in exp_refs(machine.repo).values():
            assert cached_objects(machine.repo, ref) <= stored
    assert rates["0.002,0.004"].isdisjoint(rates["0.008,0.016"])  # no point runs twice
    on_origin = exp_refs(machines["a"].repo, "origin")
    assert set(on_origin) == {name for m in machines.values() for name in m.experiments}
    assert_offline(network_log)


def columns(width: int) -> dict[str, str]:
    return dict(environment(), COLUMNS=str(width))


def test_any_clone_lists_and_applies_every_machines_experiments_without_training(
    machines, hub, network_log
):
    everything = {n: e for machine in machines.values() for n, e in machine.experiments.items()}
    assert experiments(hub) == everything  # the same params and metrics as where they ran
    # DVC draws its tables at most 1,024 characters wide (its pager's width); COLUMNS gives
    # that width to output that is not a terminal. The plain table holds every experiment
    # and the first ~50 metrics, but the params come after them and are cut off, so the
    # README compares with only the columns that differ.
    shown = detached([sys.executable, "-m", "dvc", "exp", "show"], hub, columns(1024))
    plain = shown.stdout.splitlines()
    compared = readme(
        hub,
        "dvc exp show --only-changed --sort-by results/evaluation.json:accuracy --sort-order desc",
        COLUMNS="1024",
    ).stdout.splitlines()
    for name, found in everything.items():
        (row,) = [line for line in plain if f"[{name}]" in line]
        accuracy = found["metrics"]["results/evaluation.json"]["accuracy"]
        assert f" {accuracy:.5g} " in row
        (row,) = [line for line in compared if f"[{name}]" in line]
        train = found["params"]["train"]
        assert f" {accuracy:.5g} " in row
        assert f" {train['learning_rate']:g} " in row and f" {train['batch_size']} " in row
    for machine in machines.values():
        readme(hub, "dvc exp apply $EXP", EXP=machine.best)
        assert digests(hub) == machine.best_outputs
        assert UP_TO_DATE in dvc(hub, "status").stdout
        assert stages_run(dvc(hub, "repro").stdout) == set()
    assert_offline(network_log)


def test_a_tagged_version_is_one_command_and_one_file_away(
    team, machines, release, tmp_path, network_log
):
    (best,) = [m.best_outputs for m in machines.values() if m.best == release.winner]
    assert release.outputs == best
    listing = git(team.root, "ls-remote", str(team.origin), "refs/heads/main", f"refs/tags/{TAG}*")
    shas = {ref: sha for sha, ref in (line.split() for line in listing.splitlines())}
    assert shas[f"refs/tags/{TAG}^{{}}"] == shas["refs/heads/main"]  # the tag is main's tip
    consumer = tmp_path / "consumer"  # outside any Git repository
    consumer.mkdir()
    assert run(["git", "rev-parse", "--git-dir"], consumer, check=False).returncode != 0
    result = readme(
        consumer,
        "dvc artifacts get $TEAM_REPO digits-classifier --rev v1.1.0",
        TEAM_REPO=str(team.origin),
        AWS_ACCESS_KEY_ID=team.remote.credentials["access_key_id"],
        AWS_SECRET_ACCESS_KEY=team.remote.credentials["secret_access_key"],
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),  # nothing but the environment
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
    )
    assert "Downloaded 1 file(s) to 'model.keras'" in result.stdout
    assert [path.name for path in consumer.rglob("*")] == ["model.keras"]
    model = hashlib.sha256((consumer / "model.keras").read_bytes()).hexdigest()
    assert model == release.outputs["models/model.keras"]
    assert_offline(network_log)


def test_cleaning_up_frees_only_what_the_losers_used_and_a_teammate_still_gets_the_rest(
    team, machines, hub, release, network_log
):
    kept = {machine.best for machine in machines.values()}  # the winner and the runner-up
    refs = exp_refs(hub)
    losers = sorted(set(refs) - kept)
    needed = cached_objects(hub, "main") | cached_objects(hub, TAG)
    for name in kept:
        needed |= cached_objects(hub, refs[name])
    only_losers = set().union(*(cached_objects(hub, refs[name]) for name in losers)) - needed
    assert only_losers and only_losers <= stored_objects(team.bucket)

    readme(hub, "dvc exp remove $LOSERS", LOSERS=" ".join(losers))
    assert set(exp_refs(hub)) == kept
    assert set(exp_refs(hub, "origin")) == set(refs)  # each removes only its own
    readme(hub, "dvc exp remove --git-remote origin $LOSERS", LOSERS=" ".join(losers))
    assert set(exp_refs(hub, "origin")) == kept
    readme(hub, "dvc gc --all-branches --all-tags --all-experiments --cloud --force")
    assert set(exp_refs(hub)) == kept
    # What main, the tag and the kept experiments use, and nothing else: `--all-branches`
    # keeps branch tips, so the outputs of main's earlier commit (the baseline) go too.
    assert stored_objects(team.bucket) == needed
    assert not only_losers & stored_objects(hub / ".dvc" / "cache")

    teammate = team.clone("teammate")
    readme(teammate, "dvc pull")
    assert digests(teammate) == release.outputs
    assert UP_TO_DATE in dvc(teammate, "status").stdout
    # README: `dvc exp pull origin` fetches the experiments of the current commit, and main's
    # tip is now the promotion, whose parent they are based on; `--all-commits` gets them.
    assert "No experiments to pull." in readme(teammate, "dvc exp pull origin").stdout
    dvc(teammate, "exp", "pull", "--all-commits", "origin")
    assert set(exp_refs(teammate)) == kept
    (runner_up,) = [m for m in machines.values() if m.best != release.winner]
    readme(teammate, "dvc exp apply $EXP", EXP=runner_up.best)
    assert digests(teammate) == runner_up.best_outputs
    assert UP_TO_DATE in dvc(teammate, "status").stdout
    assert_offline(network_log)

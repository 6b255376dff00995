"""Team remote storage, end to end, against real servers on 127.0.0.1.

Clone A of one Git origin configures three remotes (a shared directory, an S3 server
run by `rclone serve s3`, an SSH server run as a private sshd), runs the shrunken
pipeline and one experiment with a lower learning rate, and pushes data, model and
run-cache. Fresh clones of the origin then pull instead of retraining. A server that
goes away mid-push and wrong credentials fail loudly and leave nothing half-done.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import digests, dvc, environment, git, make_repo, run, stages_run, update_params
from servers import HOST, Remote, S3Server, SshServer, configure_locally

pytestmark = [pytest.mark.remote, pytest.mark.pipeline]

EXPERIMENT = "lower-lr"  # A's experiment, whose params a teammate later tries


def only(found: dict[str, str], tops: tuple[str, ...]) -> dict[str, str]:
    return {path: digest for path, digest in found.items() if path.split("/")[0] in tops}


def add_credentials(repo: Path, name: str, remote: Remote) -> None:
    """One person's credentials: .dvc/config.local, which DVC keeps out of Git."""
    for option, value in remote.credentials.items():
        dvc(repo, "remote", "modify", "--local", name, option, value)


def add_local_remote(repo: Path, name: str, remote: Remote) -> None:
    """A remote known to this clone only, for the fault tests."""
    configure_locally(repo, name, {"url": remote.url, **remote.options, **remote.credentials})


def dvc_unable_to_run_stages(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`dvc` with a failing `python` first on PATH: a stage that runs fails the call."""
    stub = repo.parent / "no-python"
    stub.mkdir(exist_ok=True)
    (stub / "python").write_text('#!/bin/sh\necho "a stage ran: python $*" >&2\nexit 97\n')
    (stub / "python").chmod(0o755)
    env = environment()
    env["PATH"] = f"{stub}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"dvc {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(0.02)


def timed(label: str, call: Callable[[], subprocess.CompletedProcess]) -> str:
    started = time.monotonic()
    output = call().stdout
    print(f"{label}: {time.monotonic() - started:.1f} s")  # shown with `pytest -s`
    return output


def ssh_unavailable_or_fail() -> str | None:
    """Why SSH cannot be tested here (outside CI), or None; in CI, a failure."""
    reason = SshServer.unavailable()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the SSH tests: {reason}")
    return reason


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory):
    """The team's sshd, or None where sshd cannot run (the SSH tests then skip)."""
    if ssh_unavailable_or_fail():
        yield None
        return
    server = SshServer(tmp_path_factory.mktemp("ssh"))
    server.start()
    yield server
    server.stop()


@dataclass
class Team:
    origin: Path  # the bare Git repository everyone clones
    a: Path  # the colleague who ran the pipeline
    remotes: dict[str, Remote]
    baseline: dict[str, str]  # digests of A's committed outputs
    lower_lr: dict[str, str]  # digests of A's outputs in the experiment

    def clone(self, destination: Path, remote: str) -> Path:
        """A teammate's clone, with credentials for `remote`, made the default."""
        git(destination.parent, "clone", "-q", str(self.origin), str(destination))
        configure_locally(destination, remote, self.remotes[remote].credentials, default=True)
        return destination


@pytest.fixture(scope="module")
def team(tmp_path_factory, s3_server, ssh_server) -> Team:
    root = tmp_path_factory.mktemp("team")
    remotes = {
        "directory": Remote(url=str(root / "nas" / "team-storage")),
        "s3": s3_server.remote("team"),
    }
    if ssh_server:
        remotes["ssh"] = ssh_server.remote("team")
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    a = make_repo(root / "a")
    git(a, "remote", "add", "origin", str(origin))
    for name, remote in remotes.items():
        dvc(a, "remote", "add", name, remote.url)
        for option, value in remote.options.items():
            dvc(a, "remote", "modify", name, option, value)
        add_credentials(a, name, remote)
    git(a, "commit", "-q", "-m", "team remotes", ".dvc/config")
    dvc(a, "repro")
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "baseline run")
    baseline = digests(a)
    dvc(a, "exp", "run", "--name", EXPERIMENT, "--set-param", "train.learning_rate=0.001")
    lower_lr = digests(a)
    git(a, "reset", "-q", "--hard", "main")
    dvc(a, "checkout", "-q", "--force")
    assert digests(a) == baseline
    git(a, "push", "-q", "origin", "main")
    return Team(origin, a, remotes, baseline, lower_lr)


@pytest.fixture(scope="module", params=["directory", "s3", "ssh"])
def shared(request, team) -> str:
    """One of the team's remotes, holding A's data, model and run-cache."""
    name = request.param
    if name not in team.remotes:
        pytest.skip(ssh_unavailable_or_fail())
    output = timed(
        f"{name}: dvc push --run-cache", lambda: dvc(team.a, "push", "-r", name, "--run-cache")
    )
    assert "files pushed" in output
    output = run([sys.executable, "-m", "digits.run_cache", "push", "-r", name], team.a).stdout
    assert re.search(r"^[1-9]\d* files pushed for [1-9]\d* runs", output, re.MULTILINE), output
    return name


def test_credentials_stay_out_of_git(team, shared):
    history = git(team.a, "log", "--all", "-p")
    assert team.remotes[shared].url in history
    for value in team.remotes[shared].credentials.values():
        assert value not in history
    assert ".dvc/config.local" not in git(team.a, "ls-files")


def test_a_fresh_clone_pulls_every_output_and_runs_nothing(team, shared, tmp_path):
    b = team.clone(tmp_path / "b", shared)
    timed(f"{shared}: dvc pull", lambda: dvc(b, "pull"))
    assert digests(b) == team.baseline
    assert "Data and pipelines are up to date" in dvc(b, "status").stdout
    assert stages_run(dvc_unable_to_run_stages(b, "repro").stdout) == set()
    assert git(b, "status", "--porcelain") == ""


def test_params_a_colleague_ran_come_from_the_run_cache_without_training(team, shared, tmp_path):
    b = team.clone(tmp_path / "b", shared)
    update_params(b / "params.yaml", {"train": {"learning_rate": 0.001}})
    output = dvc_unable_to_run_stages(b, "repro", "--pull", "--allow-missing").stdout
    assert "Stage 'train' is cached - skipping run, checking out outputs" in output
    assert stages_run(output) == set()
    trained = ("models", "results", "report")
    assert only(digests(b), trained) == only(team.lower_lr, trained)


def test_experiments_travel_through_git_and_the_remote(team, shared, tmp_path):
    dvc(team.a, "exp", "push", "--remote", shared, "origin", EXPERIMENT)
    b = team.clone(tmp_path / "b", shared)
    dvc(b, "exp", "pull", "origin", EXPERIMENT)
    assert EXPERIMENT in dvc(b, "exp", "list", "--all-commits", "--name-only").stdout
    dvc(b, "exp", "apply", EXPERIMENT)
    assert digests(b) == team.lower_lr


# Faults, each on a fresh server, through remotes only A's .dvc/config.local knows.


@pytest.fixture
def fresh_s3(tmp_path):
    server = S3Server(tmp_path / "s3")
    yield server
    server.stop()


@pytest.fixture
def fresh_ssh(tmp_path):
    reason = ssh_unavailable_or_fail()
    if reason:
        pytest.skip(reason)
    server = SshServer(tmp_path / "ssh")
    yield server
    server.stop()


def objects(storage: Path) -> dict[str, str]:
    """The objects a remote holds under their final names (no hidden temporary files)."""
    found = digests(storage.parent, (storage.name,))
    return {path: digest for path, digest in found.items() if "/." not in path}


def pull_verified(team: Team, destination: Path, name: str, remote: Remote) -> dict[str, str]:
    """A third clone pulls from `remote`, re-hashing every file it downloads."""
    git(destination.parent, "clone", "-q", str(team.origin), str(destination))
    add_local_remote(destination, name, remote)
    configure_locally(destination, name, {"verify": "true"})
    dvc(destination, "pull", "--remote", name)
    return digests(destination)


def test_an_s3_server_stopped_mid_push_fails_the_push_and_a_second_push_completes(
    team, fresh_s3, tmp_path
):
    fresh_s3.start(bwlimit="2M")  # slow enough to stop it mid-way
    add_local_remote(team.a, "cut", fresh_s3.remote("cut"))
    stored = fresh_s3.stored("cut")
    push = subprocess.Popen(
        [sys.executable, "-m", "dvc", "push", "--remote", "cut"],
        cwd=team.a,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: any(path.is_file() for path in stored.rglob("*")), 60, "an upload")
    finally:
        fresh_s3.stop()
        output = push.communicate(timeout=120)[0]
    assert push.returncode != 0
    # Which one depends on whether the cut hit an upload or the next request; both are clear.
    assert re.search(
        r"ERROR: (unexpected error - Could not connect to the endpoint URL"
        r"|failed to push data to the cloud - \d+ files failed to upload)",
        output,
    ), output
    assert digests(team.a) == team.baseline
    # Objects are named by their md5: whatever sits under its final name is whole.
    cut_off = objects(stored)
    fresh_s3.start()
    assert "files pushed" in dvc(team.a, "push", "--remote", "cut").stdout
    complete = objects(stored)
    assert len(cut_off) < len(complete)
    assert all(complete[path] == digest for path, digest in cut_off.items())
    pulled = pull_verified(team, tmp_path / "c", "cut", fresh_s3.remote("cut"))
    assert pulled == team.baseline


def test_a_push_to_a_stopped_ssh_server_fails_and_succeeds_once_it_is_back(
    team, fresh_ssh, tmp_path
):
    add_local_remote(team.a, "down", fresh_ssh.remote("down"))
    result = dvc(team.a, "push", "--remote", "down", check=False)
    assert result.returncode != 0
    assert "Connect call failed ('127.0.0.1'" in result.stderr
    assert not fresh_ssh.stored("down").exists()
    assert digests(team.a) == team.baseline
    fresh_ssh.start()
    assert "files pushed" in dvc(team.a, "push", "--remote", "down").stdout
    pulled = pull_verified(team, tmp_path / "c", "down", fresh_ssh.remote("down"))
    assert pulled == team.baseline


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("s3", "Forbidden: An error occurred (403)"),
        ("ssh", "Permission denied for user"),
    ],
)
def test_wrong_credentials_fail_clearly_and_change_nothing(
    team, s3_server, ssh_server, name, message, tmp_path
):
    if name not in team.remotes:
        pytest.skip(ssh_unavailable_or_fail())
    if name == "s3":
        wrong, storage = s3_server.remote("denied", secret="not-the-secret"), s3_server.data
    else:
        wrong = ssh_server.remote("denied", key=ssh_server.keygen("stranger"))
        storage = ssh_server.root / "store"
    before = digests(storage.parent, (storage.name,))
    add_local_remote(team.a, f"{name}-denied", wrong)
    push = dvc(team.a, "push", "--remote", f"{name}-denied", check=False)
    assert push.returncode != 0
    assert f"ERROR: unexpected error - {message}" in push.stderr
    assert digests(storage.parent, (storage.name,)) == before
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(team.origin), str(b))
    configure_locally(b, name, wrong.credentials)
    pull = dvc(b, "pull", "--remote", name, check=False)
    assert pull.returncode != 0
    assert f"ERROR: failed to connect to {name} " in pull.stderr and message in pull.stderr
    assert not (b / "data/raw").exists() and not (b / "models/model.keras").exists()
    assert git(b, "status", "--porcelain") == ""


def test_a_server_whose_port_was_taken_before_its_first_start_moves_to_another(tmp_path):
    """Another xdist worker may bind the port that free_port() chose before the server does."""
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = S3Server(tmp_path / "s3")
        server.port = taken
        server.start()
        try:
            assert server.port != taken
            assert "address already in use" in server.log.read_text().lower()
        finally:
            server.stop()

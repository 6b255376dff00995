"""Shared fixtures: the repository root, shrunken params, temporary git + DVC copies, the
bundled MNIST digits and a small model trained once per session."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import digits.params
from digits import idx
from digits.datasets import MNIST
from digits.preparation import scale

REPO_ROOT = Path(__file__).resolve().parents[1]

OUTPUTS = ("data", "models", "report", "results")  # every folder a stage writes into


def digests(folder: Path, tops: tuple[str, ...] = OUTPUTS) -> dict[str, str]:
    """sha256 of every file under `tops` in `folder`, hidden files included."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for top in tops
        for path in sorted((folder / top).rglob("*"))
        if path.is_file()
    }


# The real params, shrunk: a slice of the data and one epoch (no special code paths).
SMALL = {
    "normalize": {"max_train_samples": 1500, "max_test_samples": 400},
    "train": {"epochs": 1, "batch_size": 32},  # enough steps to learn something in one epoch
}


# The slowest modules, slowest first (CI's --durations): pytest-xdist (`-n`, `--dist
# loadfile` in pyproject.toml) hands each worker whole modules in this order, so that the
# long ones start at once and the short ones fill in around them.
SLOWEST_FIRST = (
    "test_tune.py",
    "test_tune_team.py",
    "test_compare.py",
    "test_benchmark.py",
    "test_remote.py",
    "test_pipeline.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: the tests of a module keep their order


def environment() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin/ first, so `python` is ours."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")  # DVC's analytics would try the network
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env=environment(), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], repo, check)


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).stdout


def stages_run(output: str) -> set[str]:
    """Names of the stages that `dvc repro` actually ran (not skipped, not restored)."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def load_params(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def update_params(path: Path, changes: dict) -> None:
    """Merge nested `changes` into the params file at `path`."""
    params = load_params(path)

    def merge(target: dict, source: dict) -> None:
        for key, value in source.items():
            if isinstance(value, dict):
                merge(target[key], value)
            else:
                target[key] = value

    merge(params, changes)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(destination: Path) -> Path:
    """Copy the project's tracked and untracked-but-not-ignored files; return the copy."""
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def make_repo(destination: Path, changes: dict = SMALL) -> Path:
    """A fresh git + DVC repository holding the project with shrunken params, committed."""
    repo = copy_project(destination)
    update_params(repo / "params.yaml", changes)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "tests@example.com")
    git(repo, "config", "user.name", "tests")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "project with shrunken params")  # dvclive needs a commit
    return repo


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def bundled_mnist(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images and labels of a split of the MNIST copy in data/bundled (no network)."""
    arrays = []
    for kind in ("images", "labels"):
        entry = MNIST.file(split, kind)
        data = gzip.decompress((REPO_ROOT / "data/bundled/mnist" / entry.archive_name).read_bytes())
        arrays.append(idx.decode(data, entry.name, entry.dimensions)[:limit])
    return arrays[0], arrays[1]


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A small but decent model (about 98% test accuracy) trained once per session; its path.

    The real params, shrunk: the convnet on 10,000 training images for 3 epochs.
    """
    from digits import models, training

    images, labels = bundled_mnist("train", 10_500)
    config = dataclasses.replace(
        digits.params.load_params(REPO_ROOT / "params.yaml").train,
        architecture="convnet",
        epochs=3,
    )
    model = training.train(
        config,
        (scale(images[:10_000]), labels[:10_000]),
        (scale(images[10_000:]), labels[10_000:]),
        MNIST.num_classes,
        verbose=0,
    )
    path = tmp_path_factory.mktemp("model") / "model.keras"
    models.save_model(model, path)
    return path


@pytest.fixture(scope="session")
def fault_baseline(tmp_path_factory):
    """One shrunken pipeline run that the fault tests (test_faults_*.py) attack."""
    import faults  # here, not at the top: faults imports this module

    return faults.make_baseline(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def clean_baseline(fault_baseline):
    """The fault baseline, reset to its commit and its outputs."""
    import faults

    faults.reset(fault_baseline)
    yield fault_baseline
    faults.stop_all()  # a test that failed half-way must not leave a run holding DVC's lock

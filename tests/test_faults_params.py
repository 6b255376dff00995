"""Bad params.yaml, through the real pipeline: refused before any work, nothing lost.

tests/test_params.py checks every schema rule on the loader; here each fault goes
through `dvc repro` or `dvc exp run -S` in the fault baseline: the first stage that
reads the bad value (or DVC itself) stops with one line naming the key and what is
allowed, no stage logs any work, every output still there is the last good one, and
once params.yaml is restored `dvc checkout` and `dvc repro` bring everything back.
"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import dvc, load_params, update_params
from faults import assert_nothing_partial, assert_one_error, assert_restored

pytestmark = pytest.mark.pipeline

WORK_LOGGED = re.compile(r"^\d\d:\d\d:\d\d digits\.", re.MULTILINE)  # the stages' logging


def edit(changes):
    return lambda path: update_params(path, changes)


def text(pattern, replacement):
    """Edit the file as text, for what a YAML dump cannot write (syntax errors, 1e-3)."""

    def apply(path):
        new = re.sub(pattern, replacement, path.read_text(), count=1, flags=re.MULTILINE)
        assert new != path.read_text(), pattern
        path.write_text(new)

    return apply


def restructure(change):
    """Apply `change` to the params as a dict and write them back."""

    def apply(path):
        params = load_params(path)
        change(params)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    return apply


def delete(path):
    path.unlink()


# (id, fault, stage that fails or None, message), the message from DVC or from the schema.
YAML_FAULTS = [
    ("missing file", delete, "download", "Parameters 'download' are missing from 'params.yaml'"),
    (
        "YAML syntax error",
        text(r"^  epochs: 1$", "  epochs: [1"),
        None,
        "unable to read: 'params.yaml', YAML file structure is corrupted",
    ),
    (
        "misspelt section",
        text(r"^train:$", "trian:"),
        "train",
        "Parameters 'train' are missing from 'params.yaml'",
    ),
    (
        "key indented as a new section",
        restructure(lambda params: params.update(seed=params["normalize"].pop("seed"))),
        "normalize",
        "params.yaml: unknown key seed; allowed keys in top level: download, normalize, "
        "train, evaluate, report",
    ),
    (
        "unknown key learnig_rate",
        restructure(lambda p: p["train"].update(learnig_rate=p["train"].pop("learning_rate"))),
        "train",
        "params.yaml: unknown key train.learnig_rate; allowed keys in train: architecture,",
    ),
    (
        "missing key",
        restructure(lambda params: params["normalize"].pop("seed")),
        "normalize",
        "params.yaml: missing key normalize.seed",
    ),
    (
        "epochs as text",
        text(r"^  epochs: 1$", "  epochs: ten"),
        "train",
        "params.yaml: train.epochs must be an integer >= 1, got the string 'ten'",
    ),
    (
        "learning rate 1e-3 that YAML reads as text",
        text(r"^  learning_rate: .*$", "  learning_rate: 1e-3"),
        "train",
        "train.learning_rate must be a number > 0 and <= 10, got the string '1e-3' "
        "(YAML reads it as text; write 0.001)",
    ),
    (
        "epochs 0",
        edit({"train": {"epochs": 0}}),
        "train",
        "train.epochs must be an integer >= 1, got 0",
    ),
    (
        "learning rate 0",
        edit({"train": {"learning_rate": 0}}),
        "train",
        "train.learning_rate must be a number > 0 and <= 10, got 0.0",
    ),
    (
        "dropout 1",
        edit({"train": {"convnet": {"dropout_rate": 1.0}}}),
        "train",
        "train.convnet.dropout_rate must be a number >= 0 and < 1, got 1.0",
    ),
    (
        "validation fraction 0",
        edit({"normalize": {"validation_fraction": 0}}),
        "normalize",
        "normalize.validation_fraction must be a number > 0 and < 1, got 0.0",
    ),
    (
        "validation fraction 1",
        edit({"normalize": {"validation_fraction": 1}}),
        "normalize",
        "normalize.validation_fraction must be a number > 0 and < 1, got 1.0",
    ),
    (
        "batch size 0",
        edit({"train": {"batch_size": 0}}),
        "train",
        "train.batch_size must be an integer >= 1, got 0",
    ),
    (
        "batch size larger than the training set",
        edit({"train": {"batch_size": 5000}}),
        "train",
        "train.batch_size=5000 is larger than the training set (1351 samples)",
    ),
    (
        "unknown architecture",
        edit({"train": {"architecture": "resnet"}}),
        "train",
        "train.architecture must be one of convnet, mlp, got the string 'resnet'",
    ),
    (
        "unknown optimizer",
        edit({"train": {"optimizer": "adamm"}}),
        "train",
        "train.optimizer must be one of adam, adamw, sgd, rmsprop, got the string 'adamm'",
    ),
    (
        "unknown dataset",
        edit({"download": {"dataset": "cifar10"}}),
        "download",
        "download.dataset must be one of mnist, got the string 'cifar10'",
    ),
    (
        "timeout 0",
        edit({"download": {"timeout_seconds": 0}}),
        "download",
        "download.timeout_seconds must be a number > 0, got 0.0",
    ),
    (
        "report dpi 5",
        edit({"report": {"dpi": 5}}),
        "report",
        "report.dpi must be an integer >= 30 and <= 600, got 5",
    ),
]

# The same kinds of typo through `dvc exp run -S`; test_pipeline.py has train.epoch,
# +train.epoch, train.epochs=ten and train.learning_rate=-1. A new key needs `+`:
# without it DVC refuses the key itself.
SET_FAULTS = [
    ("+normalize.sed=1", "normalize", "unknown key normalize.sed; allowed keys in normalize"),
    ("download.dataset=cifar10", "download", "download.dataset must be one of mnist"),
    (
        "normalize.validation_fraction=1.5",
        "normalize",
        "normalize.validation_fraction must be a number > 0 and < 1, got 1.5",
    ),
]


def check_refused(baseline, result, stage, message):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    if stage is not None:
        assert f"ERROR: failed to reproduce '{stage}'" in output
    if message.startswith(("Parameters", "unable to read")):  # DVC's own check, before any stage
        assert message in output and "Traceback" not in output
    else:
        assert_one_error(output, message)
    assert WORK_LOGGED.search(output) is None, output  # stopped before doing any work
    assert_nothing_partial(baseline)


@pytest.mark.parametrize(
    ("fault", "stage", "message"), [c[1:] for c in YAML_FAULTS], ids=[c[0] for c in YAML_FAULTS]
)
def test_a_bad_params_file_stops_the_pipeline_and_loses_nothing(
    clean_baseline, fault, stage, message
):
    fault(clean_baseline.repo / "params.yaml")
    result = dvc(clean_baseline.repo, "repro", check=False)
    check_refused(clean_baseline, result, stage, message)
    assert_restored(clean_baseline)


@pytest.mark.parametrize(
    ("setting", "stage", "message"), SET_FAULTS, ids=[c[0] for c in SET_FAULTS]
)
def test_a_bad_value_set_by_exp_run_stops_the_pipeline_and_loses_nothing(
    clean_baseline, setting, stage, message
):
    result = dvc(clean_baseline.repo, "exp", "run", "-S", setting, check=False)
    check_refused(clean_baseline, result, stage, message)
    assert_restored(clean_baseline)

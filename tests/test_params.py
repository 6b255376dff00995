"""params.yaml validation: every bad value fails with one line naming the key."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, run
from digits.params import ParamsError, load_params

GOOD = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def write(tmp_path: Path, params: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def changed(section: str, key: str, value: object) -> dict:
    params = copy.deepcopy(GOOD)
    target = params[section]
    *parents, last = key.split(".")
    for parent in parents:
        target = target[parent]
    target[last] = value
    return params


def without(section: str, key: str) -> dict:
    params = copy.deepcopy(GOOD)
    del params[section][key]
    return params


def test_the_repository_params_are_valid():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.train.architecture in ("convnet", "mlp")
    assert params.train.mlp.hidden_units == 64 and params.train.mlp.dropout_rate == 0.2
    assert params.download.sources[0] == "data/bundled/mnist"


def test_integers_are_accepted_where_numbers_are_expected(tmp_path):
    params = load_params(write(tmp_path, changed("train", "learning_rate", 1)))
    assert params.train.learning_rate == 1.0 and isinstance(params.train.learning_rate, float)


BAD = [
    ("unknown section", {**GOOD, "trian": {}}, "unknown key trian"),
    ("unknown key", changed("train", "learnig_rate", 0.1), "unknown key train.learnig_rate"),
    ("unknown nested key", changed("train", "mlp.units", 3), "unknown key train.mlp.units"),
    ("missing section", {k: v for k, v in GOOD.items() if k != "evaluate"}, "missing key evaluate"),
    ("missing key", without("train", "epochs"), "missing key train.epochs"),
    ("epochs string", changed("train", "epochs", "ten"), "train.epochs must be an integer"),
    ("epochs float", changed("train", "epochs", 2.5), "train.epochs must be an integer"),
    ("epochs bool", changed("train", "epochs", True), "train.epochs must be an integer"),
    ("epochs zero", changed("train", "epochs", 0), "train.epochs must be an integer >= 1"),
    (
        "lr as string",
        changed("train", "learning_rate", "1e-3"),
        "train.learning_rate must be a number",
    ),
    ("lr zero", changed("train", "learning_rate", 0), "train.learning_rate must be a number > 0"),
    (
        "lr negative",
        changed("train", "learning_rate", -0.1),
        "train.learning_rate must be a number > 0",
    ),
    ("dropout one", changed("train", "convnet.dropout_rate", 1.0), "train.convnet.dropout_rate"),
    ("dropout negative", changed("train", "mlp.dropout_rate", -0.1), "train.mlp.dropout_rate"),
    (
        "validation zero",
        changed("normalize", "validation_fraction", 0),
        "normalize.validation_fraction",
    ),
    (
        "validation one",
        changed("normalize", "validation_fraction", 1),
        "normalize.validation_fraction",
    ),
    (
        "batch size zero",
        changed("train", "batch_size", 0),
        "train.batch_size must be an integer >= 1",
    ),
    (
        "architecture",
        changed("train", "architecture", "resnet"),
        "train.architecture must be one of convnet, mlp",
    ),
    ("optimizer", changed("train", "optimizer", "adamm"), "train.optimizer must be one of"),
    ("schedule", changed("train", "lr_schedule", "step"), "train.lr_schedule must be one of"),
    ("dataset", changed("download", "dataset", "cifar10"), "download.dataset must be one of mnist"),
    ("sources empty", changed("download", "sources", []), "download.sources must be a list"),
    (
        "sources not list",
        changed("download", "sources", "data/bundled"),
        "download.sources must be a list",
    ),
    (
        "filters item",
        changed("train", "convnet.conv_filters", [32, "x"]),
        "train.convnet.conv_filters[1]",
    ),
    ("threads negative", changed("train", "threads", -1), "train.threads must be an integer >= 0"),
    ("threads float", changed("train", "threads", 1.5), "train.threads must be an integer"),
    ("section not mapping", {**GOOD, "train": 3}, "train must be a mapping"),
    ("max samples", changed("normalize", "max_train_samples", 5), "normalize.max_train_samples"),
    (
        "timeout",
        changed("download", "timeout_seconds", 0),
        "download.timeout_seconds must be a number > 0",
    ),
    ("empty file", None, "top level must be a mapping"),
]


@pytest.mark.parametrize(("params", "message"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_bad_params_are_rejected_naming_the_key(tmp_path, params, message):
    with pytest.raises(ParamsError) as caught:
        load_params(write(tmp_path, params))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_and_yaml_syntax_error(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("train:\n  epochs: [1\n")
    with pytest.raises(ParamsError, match=r"YAML syntax error at line \d+"):
        load_params(broken)


def test_a_stage_exits_non_zero_with_one_line_before_doing_work(tmp_path):
    params = write(tmp_path, changed("train", "learnig_rate", 0.1))
    out = tmp_path / "raw"
    result = run(
        [sys.executable, "stages/download.py", "--params", str(params), "--out", str(out)],
        REPO_ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {params}: unknown key train.learnig_rate; allowed keys in train: "
        "architecture, mlp, convnet, augment, optimizer, learning_rate, lr_schedule, "
        "warmup_fraction, label_smoothing, epochs, batch_size, seed, threads, precision"
    ]
    assert not out.exists()


def test_a_yaml_set_is_refused_where_a_list_is_expected(tmp_path):
    """A list is ordered; a YAML `!!set` is not, so it is refused (the params hold tuples)."""
    path = tmp_path / "params.yaml"
    text = (REPO_ROOT / "params.yaml").read_text()
    path.write_text(text.replace("conv_filters: [32, 64]", "conv_filters: !!set {32, 64}"))
    with pytest.raises(ParamsError, match=r"train\.convnet\.conv_filters must be a list of at"):
        load_params(path)
    assert load_params(REPO_ROOT / "params.yaml").train.convnet.conv_filters == (32, 64)


def test_a_key_that_is_not_text_is_named_as_written(tmp_path):
    params = changed("train", "mlp.units", 3)
    params["train"][True] = 1
    with pytest.raises(ParamsError, match=r"unknown key train\.True; allowed keys in train: arch"):
        load_params(write(tmp_path, params))


def test_sections_are_frozen_dataclasses_that_validate_on_replace():
    """Stages and tests use `dataclasses.replace` and `asdict`; a replaced value is checked."""
    import dataclasses

    train = load_params(REPO_ROOT / "params.yaml").train
    assert dataclasses.replace(train, epochs=2).epochs == 2
    assert dataclasses.asdict(train)["convnet"]["conv_filters"] == (32, 64)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        dataclasses.replace(train, epochs=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        train.epochs = 2  # type: ignore[misc]


EXACT = [
    (("train", "learning_rate", 0), "train.learning_rate must be a number > 0 and <= 10, got 0.0"),
    (
        ("train", "learning_rate", "1e-3"),
        "train.learning_rate must be a number > 0 and <= 10, got the string '1e-3' "
        "(YAML reads it as text; write 0.001)",
    ),
    (
        ("train", "epochs", "10"),
        "train.epochs must be an integer >= 1, got the string '10' "
        "(YAML reads it as text; write 10)",
    ),
    (
        ("train", "augment.shift", 0.6),
        "train.augment.shift must be a number >= 0 and <= 0.5, got 0.6",
    ),
    (
        ("normalize", "max_train_samples", 5),
        "normalize.max_train_samples must be an integer >= 20 or null, got 5",
    ),
    (
        ("download", "sources", []),
        "download.sources must be a list of at least 1 str values, got []",
    ),
    (
        ("train", "convnet.conv_filters", [32, "x"]),
        "train.convnet.conv_filters[1] must be an integer >= 1, got the string 'x'",
    ),
    (("download", "dataset", 3), "download.dataset must be one of mnist, got 3"),
]


@pytest.mark.parametrize(("change", "message"), EXACT, ids=[m.split(" must")[0] for _, m in EXACT])
def test_the_whole_message_says_what_is_allowed_and_what_was_found(tmp_path, change, message):
    path = write(tmp_path, changed(*change))
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(caught.value) == f"{path}: {message}"

"""params.schema.json: generated from the models, and as strict as they are.

Editors check params.yaml against the committed JSON Schema as you type; the stages
check it with the pydantic models. Here the two are held to the same verdicts.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from conftest import REPO_ROOT
from digits.params import SCHEMA_COMMAND, ParamsError, json_schema, load_params, main

SCHEMA_FILE = REPO_ROOT / "params.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())
GOOD = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
# pydantic writes draft 2020-12; Red Hat's YAML extension validates as draft-07: both must agree.
VALIDATORS = [jsonschema.Draft7Validator, jsonschema.Draft202012Validator]
MISSING = object()


def changed(key: str, value: object) -> dict:
    """GOOD with the dotted `key` set to `value`, or removed if `value` is MISSING."""
    params = copy.deepcopy(GOOD)
    *parents, last = key.split(".")
    target = params
    for parent in parents:
        target = target[parent]
    if value is MISSING:
        del target[last]
    else:
        target[last] = value
    return params


def test_the_committed_schema_is_what_the_models_generate(tmp_path):
    out = tmp_path / "params.schema.json"
    main(["--schema", str(out)])
    assert out.read_text() == SCHEMA_FILE.read_text(), f"out of date; run: {SCHEMA_COMMAND}"
    assert json.loads(out.read_text()) == json_schema()


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
def test_the_schema_is_valid_and_the_repository_params_pass_it(validator):
    validator.check_schema(SCHEMA)
    validator(SCHEMA).validate(GOOD)


def test_params_yaml_points_editors_at_the_schema_and_the_readme_says_how_to_regenerate():
    first_lines = (REPO_ROOT / "params.yaml").read_text().splitlines()[:2]
    assert first_lines == [
        "# yaml-language-server: $schema=./params.schema.json",  # VS Code's YAML extension
        "# $schema: ./params.schema.json",  # JetBrains IDEs
    ]
    assert SCHEMA_COMMAND in (REPO_ROOT / "README.md").read_text()


def objects(node: object):
    """Every object schema inside `node`."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


def test_every_key_is_described_and_no_other_key_is_allowed():
    sections = list(objects(SCHEMA))
    assert len(sections) == 1 + len(SCHEMA["$defs"])
    for section in sections:
        assert section["additionalProperties"] is False
        assert section["description"]
        assert section["required"] == list(section["properties"])
        for name, field in section["properties"].items():
            assert "$ref" in field or field.get("description"), name


def test_bounds_choices_and_null_reach_the_schema():
    train = SCHEMA["$defs"]["TrainParams"]["properties"]
    rate = train["learning_rate"]
    assert (rate["type"], rate["exclusiveMinimum"], rate["maximum"]) == ("number", 0, 10)
    assert train["optimizer"]["enum"] == ["adam", "adamw", "sgd", "rmsprop"]
    assert train["epochs"]["type"] == "integer" and train["epochs"]["minimum"] == 1
    samples = SCHEMA["$defs"]["NormalizeParams"]["properties"]["max_train_samples"]
    assert samples["anyOf"] == [{"type": "integer", "minimum": 20}, {"type": "null"}]
    filters = SCHEMA["$defs"]["ConvnetParams"]["properties"]["conv_filters"]
    assert filters["minItems"] == 1 and filters["items"] == {"type": "integer", "minimum": 1}


# (id, params, accepted): each gets the same verdict from the schema and from the models.
VERDICTS = [
    ("repository", GOOD, True),
    ("integer for a number", changed("train.learning_rate", 1), True),
    ("null slice", changed("normalize.max_train_samples", None), True),
    ("integer slice", changed("normalize.max_train_samples", 100), True),
    ("other choice", changed("train.architecture", "mlp"), True),
    ("unknown key", changed("train.learnig_rate", 0.1), False),
    ("unknown nested key", changed("train.mlp.units", 3), False),
    ("unknown section", {**GOOD, "trian": {}}, False),
    ("missing key", changed("train.epochs", MISSING), False),
    ("missing section", {k: v for k, v in GOOD.items() if k != "report"}, False),
    ("text for a number", changed("train.learning_rate", "1e-3"), False),
    ("text for an integer", changed("train.epochs", "ten"), False),
    ("fraction for an integer", changed("train.epochs", 2.5), False),
    ("bool for an integer", changed("train.epochs", True), False),
    ("bool for a number", changed("train.learning_rate", False), False),
    ("null for an integer", changed("train.epochs", None), False),
    ("integer below its bound", changed("train.epochs", 0), False),
    ("number at its exclusive bound", changed("train.learning_rate", 0), False),
    ("number above its bound", changed("train.learning_rate", 10.5), False),
    ("fraction of one", changed("train.convnet.dropout_rate", 1.0), False),
    ("slice below its bound", changed("normalize.max_train_samples", 5), False),
    ("bad choice", changed("train.optimizer", "adamm"), False),
    ("bad single choice", changed("download.dataset", "cifar10"), False),
    ("empty list", changed("download.sources", []), False),
    ("text for a list", changed("download.sources", "data/bundled"), False),
    ("bad list item", changed("train.convnet.conv_filters", [32, "x"]), False),
    ("list item below its bound", changed("train.convnet.conv_filters", [32, 0]), False),
    ("section not a mapping", {**GOOD, "train": 3}, False),
    ("not a mapping", ["download"], False),
]


@pytest.mark.parametrize(
    ("params", "accepted"), [c[1:] for c in VERDICTS], ids=[c[0] for c in VERDICTS]
)
def test_the_schema_and_the_models_give_the_same_verdict(tmp_path, params, accepted):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        load_params(path)
        models_accept = True
    except ParamsError:
        models_accept = False
    for validator in VALIDATORS:
        assert validator(SCHEMA).is_valid(params) is accepted, validator.__name__
    assert models_accept is accepted


def test_the_one_known_difference_a_whole_float_for_an_integer(tmp_path):
    """JSON has one kind of number: to JSON Schema `2.0` is an integer, so an editor lets
    `epochs: 2.0` pass; the stages refuse it, as they always have (YAML reads it as a float)."""
    params = changed("train.epochs", 2.0)
    assert all(validator(SCHEMA).is_valid(params) for validator in VALIDATORS)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ParamsError, match=r"train\.epochs must be an integer >= 1, got 2\.0$"):
        load_params(path)

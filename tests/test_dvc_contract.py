"""dvc.yaml declares exactly what each stage reads and writes.

Each stage script is imported in a fresh interpreter; the package modules it
loads must be exactly the `src/digits/*.py` deps of its stage, so an edit to
one module re-runs only the stages that use it. The light stages must not load
TensorFlow at all.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest
import yaml

from conftest import REPO_ROOT, run

PIPELINE = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]
WITHOUT_TENSORFLOW = {"download", "normalize", "report"}

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("stage", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps({
    "files": sorted(m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "digits"),
    "tensorflow": "tensorflow" in sys.modules,
}))
"""


def paths(entries: list) -> list[str]:
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def test_stage_order_and_names():
    assert list(STAGES) == ["download", "normalize", "train", "evaluate", "report"]


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_deps_are_exactly_the_modules_it_imports(name):
    stage = STAGES[name]
    script = f"stages/{name}.py"
    assert shlex.split(stage["cmd"])[:2] == ["python", script]
    probe = run([sys.executable, "-c", PROBE, script], REPO_ROOT)
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    imported = sorted(
        str(__import__("pathlib").Path(f).resolve().relative_to(REPO_ROOT)) for f in loaded["files"]
    )
    declared = sorted(dep for dep in stage["deps"] if dep.startswith("src/"))
    assert declared == imported
    assert script in stage["deps"]
    if name in WITHOUT_TENSORFLOW:
        assert not loaded["tensorflow"], f"{name} imports TensorFlow"


@pytest.mark.parametrize("name", list(STAGES))
def test_every_path_in_the_command_is_declared(name):
    stage = STAGES[name]
    declared = set(stage.get("deps", []))
    for kind in ("outs", "metrics", "plots"):
        declared |= set(paths(stage.get(kind, [])))
    words = shlex.split(stage["cmd"])
    arguments = [word for word in words[2:] if not word.startswith("--")]
    for argument in arguments:
        assert any(argument == path or path.startswith(argument + "/") for path in declared), (
            f"{name}: {argument} is not a declared dep or output"
        )


@pytest.mark.parametrize("name", list(STAGES))
def test_params_are_the_stages_own_section_plus_what_it_reads(name):
    assert name in STAGES[name]["params"]


def test_small_results_live_in_git_and_large_outputs_in_dvc():
    for stage in STAGES.values():
        for kind in ("metrics", "plots"):
            for entry in stage.get(kind, []):
                assert isinstance(entry, dict), f"{entry} should say cache: false"
                assert next(iter(entry.values()))["cache"] is False
    assert STAGES["evaluate"]["plots"][0]["results/predictions.csv"]["template"] == "confusion"


def test_dvc_reads_its_yaml_files_with_the_c_parser():
    """The install brings libyaml's parser for DVC (`ruamel.yaml.clib`): without it every
    `dvc` command parses dvc.yaml and dvc.lock in pure Python, which made a no-op
    `dvc repro` 1.2x as slow."""
    from dvc.utils.serialize._yaml import parse_yaml
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None, "pip install 'ruamel.yaml.clib>=0.2.15'"
    assert YAML(typ="safe").Parser is CParser  # what DVC's parse_yaml builds
    lock = (REPO_ROOT / "dvc.lock").read_text()
    assert parse_yaml(lock, "dvc.lock") == yaml.safe_load(lock)

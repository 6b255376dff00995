"""The README's quick start stays true: two commands, and CI runs the test one."""

import ast
import re

import yaml

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL)


def test_quick_start_is_two_commands_install_and_run_then_install_and_test():
    run, test = quick_start_commands()
    assert "\n" not in run and "\n" not in test
    assert run.endswith("pip install -e . && dvc repro")
    assert test.endswith("pip install -e '.[test]' && pytest")


def test_ci_runs_the_readme_test_command():
    _, test = quick_start_commands()
    ci = (REPO_ROOT / ".ci/run").read_text().splitlines()
    assert test in ci


def test_readme_names_every_stage_and_output():
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        assert f"| `{name}` |" in README
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path = entry if isinstance(entry, str) else next(iter(entry))
                top = path.split("/")[0]
                assert f"`{top}/" in README, path


def test_readme_states_the_python_range_of_pyproject():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    low, high = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"]).groups()
    versions = [f"3.{minor}" for minor in range(int(low), int(high))]
    assert f"Python {', '.join(versions[:-1])} or {versions[-1]}" in README
    classified = {c.rsplit(" ", 1)[1] for c in project["classifiers"] if "Python :: 3." in c}
    assert classified == set(versions)
    run, test = quick_start_commands()
    assert run.startswith("python3 -m venv") and test.startswith("python3 -m venv")


def test_every_tune_command_of_the_readme_is_run_by_a_test():
    """Each command line of the Tune section is the command of a `readme(...)` call in a test
    (tuning.readme refuses any other, so the two lists are the same)."""
    from tuning import readme_commands

    called = set()
    for path in (REPO_ROOT / "tests").glob("test_tune*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "readme":
                command = node.args[1]
                assert isinstance(command, ast.Constant), f"{path.name}:{node.lineno}"
                called.add(command.value)
    commands = readme_commands()
    assert len(commands) >= 10
    assert [command for command in commands if command not in called] == []


def test_every_compare_command_of_the_readme_is_one_the_command_accepts():
    """The Compare section's command lines parse with digits-compare's own parser, and what
    they name (the picture, the example workflow) is in the repository."""
    import shlex

    from digits.comparison.cli import parser

    section = README.split("## Compare runs", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("  #")[0]
        for block in re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL)
        for line in block.splitlines()
    ]
    assert len(commands) == 4
    for command in commands:
        program, *args = shlex.split(command)
        assert program == "digits-compare"
        parser().parse_args(args)  # exits (SystemExit) on an option it does not know
    for path in re.findall(r"\((docs/[^)]+)\)|`(docs/[^`]+)`", section):
        assert (REPO_ROOT / "".join(path)).is_file(), path
    # The gate's line as the README shows it is the line the gate writes.
    from digits.comparison import analysis
    from digits.comparison.runs import Run

    shown = re.search(r"^worse: .*$", section, flags=re.MULTILINE).group(0)
    key = "results/evaluation.json:accuracy"
    runs = [Run("origin/main", "a" * 40, "commit"), Run("HEAD", "b" * 40, "commit")]
    runs[0].metrics, runs[1].metrics = {key: 0.9932}, {key: 0.9920}
    assert analysis.gate(runs, {key: -0.001}) == [shown]
    workflow = (REPO_ROOT / "docs/ci/github-compare.yml").read_text()
    assert workflow.startswith("# EXAMPLE ONLY: this file is not active here.")


def test_the_readme_high_accuracy_command_is_the_recipe_the_benchmark_measures(monkeypatch):
    """`dvc exp run -n high-accuracy -S ...` sets exactly benchmarks/recipes.py's
    HIGH_ACCURACY, so the figures beside the command are that command's."""
    import shlex

    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    from recipes import HIGH_ACCURACY, with_settings

    [command] = re.findall(r"^dvc exp run -n high-accuracy .*$", README, flags=re.MULTILINE)
    words = shlex.split(command)
    settings = [words[index + 1] for index, word in enumerate(words) if word == "-S"]
    assert len(settings) == (len(words) - 5) / 2  # nothing but -S settings after the name
    assert all(setting.startswith("train.") for setting in settings)
    changes = with_settings({}, [setting.removeprefix("train.") for setting in settings])

    def lists(node):  # the recipe holds tuples where YAML gives lists
        if isinstance(node, dict):
            return {key: lists(value) for key, value in node.items()}
        return list(node) if isinstance(node, tuple) else node

    assert changes == lists(HIGH_ACCURACY)

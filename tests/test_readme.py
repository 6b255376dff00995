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

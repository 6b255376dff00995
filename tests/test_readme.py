"""The README's quick start stays true: two commands, and CI runs the test one."""

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

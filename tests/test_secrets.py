"""Remote credentials stay out of Git: they go in .dvc/config.local; no tracked file has one."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from conftest import REPO_ROOT, git, run

# What a credential looks like, by kind: a key's own shape, or a secret-named setting with a value.
CREDENTIALS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Azure account key": re.compile(r"AccountKey=[A-Za-z0-9+/]{20,}"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@"),
    "secret setting": re.compile(
        r"(?i)\b(?:secret_access_key|access_key_id|session_token|account_key|sas_token|"
        r"client_secret|password|passphrase|api_key|token)\b\s*[=:]\s*['\"]?"
        r"(?![<{$])[^\s'\"]{8,}"
    ),
}
# Values for the check below to find (split so that this file does not hold them whole).
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"


def credentials_in(paths: list[Path]) -> list[str]:
    """`path:line: kind` for every credential-looking value in the text files among `paths`."""
    found = []
    for path in paths:
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: the bundled archives
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            found += [
                f"{path}:{number}: {kind}" for kind, p in CREDENTIALS.items() if p.search(line)
            ]
    return found


def files_git_would_commit(repo: Path) -> list[Path]:
    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return [repo / name for name in filter(None, listed.split("\0")) if (repo / name).is_file()]


def test_no_file_in_git_holds_a_credential():
    files = files_git_would_commit(REPO_ROOT)
    assert len(files) > 20
    assert credentials_in(files) == []


def test_the_check_finds_planted_credentials(tmp_path):
    planted = {
        "config": f"['remote \"storage\"']\n    secret_access_key = {AWS_SECRET}\n",
        "env": f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n",
        "url.txt": "endpoint: https://digits:" + "hunter2hunter2@minio.example.com/\n",
        "key.pem": "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    found = credentials_in(sorted(tmp_path.iterdir()))
    assert {line.split(": ", 1)[1] for line in found} == {
        "secret setting",
        "AWS access key id",
        "password in a URL",
        "private key",
    }
    placeholder = tmp_path / "readme.md"
    placeholder.write_text("dvc remote modify --local storage secret_access_key '<secret>'\n")
    assert credentials_in([placeholder]) == []


def test_credentials_set_with_local_stay_out_of_git(tmp_path):
    repo = tmp_path / "repo"
    for name in (".gitignore", ".dvcignore", ".dvc/config", ".dvc/.gitignore"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, repo / name)
    git(repo, "init", "-q")
    dvc = [sys.executable, "-m", "dvc"]
    run([*dvc, "remote", "add", "-d", "storage", "s3://digits-bucket/cache"], repo)
    run([*dvc, "remote", "modify", "--local", "storage", "access_key_id", AWS_KEY_ID], repo)
    run([*dvc, "remote", "modify", "--local", "storage", "secret_access_key", AWS_SECRET], repo)
    local = repo / ".dvc/config.local"
    assert AWS_SECRET in local.read_text()
    assert "s3://digits-bucket/cache" in (repo / ".dvc/config").read_text()
    committed = files_git_would_commit(repo)
    assert repo / ".dvc/config" in committed and local not in committed
    assert credentials_in(committed) == []
    kinds = {line.split(": ", 1)[1] for line in credentials_in([local])}
    assert kinds == {"AWS access key id", "secret setting"}

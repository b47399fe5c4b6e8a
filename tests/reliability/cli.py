"""Running the ``roomsync`` CLI as separate OS processes, cheaply enough to kill it at every write.

Two ways, same entry point (:func:`roomsync.cli.main.main`):

* ``exec``: ``.venv/bin/roomsync ...`` with :mod:`subprocess` - exactly what a user runs (about a second of
  interpreter start-up and imports per run);
* ``fork`` (default): a child forked from a warm fork server (:func:`serve`, one per test session, started with
  ``exec`` and with the CLI and both connectors imported). The child is a real process with its own pid, sockets
  and memory, that ``SIGKILL`` ends the same way; it only skips the import time, which is what makes a kill at
  every write of a cycle affordable.

Output goes to files so nothing is lost when the process is killed; the secret scan reads them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOMSYNC = Path(sys.executable).with_name("roomsync")
PRELOAD = (
    "roomsync.cli.main",
    "roomsync.cli.sync_cmd",
    "roomsync.cli.output",
    "roomsync.config.bundle",
    "roomsync.sync.runner",
    "roomsync.connectors.planon",
    "roomsync.connectors.graph",
)


def _warm() -> None:
    """Import what a CLI run needs, in the fork server (best effort: a connector may be missing)."""
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(ImportError):  # msgraph imports ~1,200 model classes on the first deserialisation
        from msgraph.generated.models.event import Event

        Event().get_field_deserializers()


def _child(argv: Sequence[str], env: Mapping[str, str], out: str, err: str) -> int:
    """In the forked child: output to files, environment set, then the CLI exactly as ``roomsync`` runs it."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    os.environ.update(env)
    from roomsync.cli.main import main

    try:
        return main(list(argv))
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve() -> None:
    """The fork server: JSON lines on stdin (``spawn``/``wait``), answers on stdout. Single-threaded, so forking
    is safe."""
    _warm()
    replies = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                code = 70
                try:
                    code = _child(request["argv"], request["env"], request["out"], request["err"])
                finally:
                    os._exit(code)
            replies.write(json.dumps({"pid": pid}) + "\n")
        elif request["op"] == "wait":
            deadline = time.monotonic() + float(request["timeout"])
            code: int | None = None
            while True:
                done, status = os.waitpid(request["pid"], os.WNOHANG)
                if done:
                    code = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            replies.write(json.dumps({"code": code}) + "\n")
        replies.flush()


class ForkServer:
    """The client side: one server process per test session, requests serialised by a lock."""

    _instance: ForkServer | None = None

    def __init__(self) -> None:
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from tests.reliability.cli import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=root,
            text=True,
        )
        self._lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """End the server: it leaves its loop when its stdin closes."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)

    @classmethod
    def get(cls) -> ForkServer:
        if cls._instance is None or cls._instance._process.poll() is not None:
            cls._instance = cls()
        return cls._instance

    def request(self, **payload: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps(payload) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("the fork server died")
        result: dict[str, Any] = json.loads(answer)
        return result


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CliProcess:
    """One running ``roomsync`` process."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, *, mode: str = "fork") -> None:
        self.argv = list(argv)
        self._dir = tempfile.TemporaryDirectory(prefix="roomsync-cli-")
        self.out, self.err = Path(self._dir.name, "stdout"), Path(self._dir.name, "stderr")
        self.started = time.monotonic()
        self.mode = mode
        env = dict(env or {})
        if mode == "exec":
            with self.out.open("wb") as out, self.err.open("wb") as err:
                self._popen: subprocess.Popen[bytes] | None = subprocess.Popen(
                    [str(ROOMSYNC), *self.argv],
                    stdout=out,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **env},
                )
        else:
            self._popen = None
            self._code: int | None = None
            self._server = ForkServer.get()
            self._pid = int(
                self._server.request(op="spawn", argv=self.argv, env=env, out=str(self.out), err=str(self.err))["pid"]
            )

    @property
    def pid(self) -> int:
        return int(self._popen.pid if self._popen is not None else self._pid)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flushing, no finally blocks."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def poll(self) -> int | None:
        """The exit code if the process has ended, else ``None`` (never blocks)."""
        if self._popen is not None:
            return self._popen.poll()
        if self._code is None:
            self._code = self._server.request(op="wait", pid=self._pid, timeout=0)["code"]
        return self._code

    def wait(self, timeout: float = 60) -> Completed:
        if self._popen is not None:
            try:
                code = self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self._popen.wait(10)
                raise
        elif self._code is not None:
            code = self._code
        else:
            code = self._server.request(op="wait", pid=self._pid, timeout=timeout)["code"]
            if code is None:
                self.kill()
                self._server.request(op="wait", pid=self._pid, timeout=10)
                raise TimeoutError(f"roomsync {' '.join(self.argv)} did not finish in {timeout} s")
        result = Completed(
            int(code),
            self.out.read_text(errors="replace"),
            self.err.read_text(errors="replace"),
            time.monotonic() - self.started,
        )
        self._dir.cleanup()
        return result


def run(
    argv: Sequence[str], env: Mapping[str, str] | None = None, *, mode: str = "fork", timeout: float = 60
) -> Completed:
    return CliProcess(argv, env, mode=mode).wait(timeout)

"""Running the ``roomsync`` CLI as separate OS processes, cheaply enough to kill it at every write.

Two ways, same entry point (:func:`roomsync.cli.main.main`):

* ``exec``: ``.venv/bin/roomsync ...`` with :mod:`subprocess` - exactly what a user runs (about a second of
  interpreter start-up and imports per run);
* ``fork`` (default): a child forked from a warm fork server (:mod:`multiprocessing`'s ``forkserver`` with the CLI
  and both connectors preloaded). The child is a real process with its own pid, sockets and memory, that
  ``SIGKILL`` ends the same way; it only skips the import time, which is what makes a kill at every write of a
  cycle affordable.

Output goes to files so nothing is lost when the process is killed; the secret scan reads them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
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


_warm()


def _child(argv: Sequence[str], env: Mapping[str, str], out: str, err: str) -> None:
    """The forked child: output to files, environment set, then the CLI exactly as ``roomsync`` runs it."""
    for fd, path in ((1, out), (2, err)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    os.environ.update(env)
    from roomsync.cli.main import main

    code = main(list(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


_context: Any = None


def _forkserver() -> Any:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    return _context


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
                    [str(ROOMSYNC), *self.argv], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                    env={**os.environ, **env},
                )
            self._process: Any = None
        else:
            self._popen = None
            self._process = _forkserver().Process(target=_child, args=(self.argv, env, str(self.out), str(self.err)))
            self._process.start()

    @property
    def pid(self) -> int:
        return int(self._popen.pid if self._popen is not None else self._process.pid)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flushing, no finally blocks."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float = 60) -> Completed:
        if self._popen is not None:
            try:
                code = self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self._popen.wait(10)
                raise
        else:
            self._process.join(timeout)
            if self._process.exitcode is None:
                self.kill()
                self._process.join(10)
                raise TimeoutError(f"roomsync {' '.join(self.argv)} did not finish in {timeout} s")
            code = self._process.exitcode
        result = Completed(
            int(code),
            self.out.read_text(errors="replace"),
            self.err.read_text(errors="replace"),
            time.monotonic() - self.started,
        )
        self._dir.cleanup()
        return result


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, *, mode: str = "fork", timeout: float = 60) -> Completed:
    return CliProcess(argv, env, mode=mode).wait(timeout)

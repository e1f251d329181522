"""The worker as a child process of ``returnhub serve`` (RETURNHUB_EMBEDDED_WORKER_MODE=process).

A worker thread inside the API process shares the GIL, that is one core, with every request:
at the January peak applying events and answering lookups take turns. As its own process the
worker gets a core of its own while one command still runs everything. The child is
``returnhub worker`` itself, so it behaves exactly as the worker processes of a larger
deployment: started with the server, started again (after a growing pause) if it dies, asked to
finish its in-flight jobs when the server stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import structlog

log = structlog.get_logger(__name__)

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before exiting counts as healthy again: its next restart is quick.
HEALTHY_SECONDS = 60.0


def worker_command(concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "returnhub.cli",
        "worker",
        "--concurrency",
        str(concurrency),
        "--exit-with-parent",
        str(os.getpid()),
    ]


PARENT_CHECK_SECONDS = 1.0


def watch_parent(parent: int, stop: Callable[[], None]) -> threading.Thread:
    """Call ``stop`` once ``parent`` is no longer this process's parent: a server killed with
    SIGKILL cannot stop its worker, and an orphan would go on working beside the worker of the
    server started in its place (safe, but not what anyone asked for)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        log.warning("worker_parent_gone", parent=parent)
        stop()

    thread = threading.Thread(target=watch, name="returnhub-parent-watch", daemon=True)
    thread.start()
    return thread


class WorkerProcess:
    """Keeps one child process running ``command`` until ``stop``."""

    def __init__(self, command: Sequence[str], *, stop_timeout: float = 30.0) -> None:
        self.command = list(command)
        self.stop_timeout = stop_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._watch, name="returnhub-worker-supervisor")
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._child is None else self._child.pid

    @contextmanager
    def running(self) -> Iterator[WorkerProcess]:
        """The child runs for the block; on leaving it (SIGTERM included) it is stopped.

        uvicorn, after its graceful shutdown on SIGTERM, puts back the handler it found and
        raises the signal again; with the default handler the process would end there, before
        any ``finally`` could stop the child. So the block runs under a handler that turns
        SIGTERM into an exception, and the signal is raised again once the child is stopped:
        the exit status still says SIGTERM."""
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        terminated = False
        self.start()
        try:
            yield self
        except _Terminated:
            terminated = True
        finally:
            self.stop()
            signal.signal(signal.SIGTERM, previous)
        if terminated:
            signal.raise_signal(signal.SIGTERM)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            # The child inherits stdout/stderr (its logs join the server's) and the environment
            # (the same settings and secrets), never a terminal's Ctrl-C: the server forwards
            # the stop itself, once, so in-flight jobs finish.
            self._child = subprocess.Popen(self.command, start_new_session=True)
        log.info("worker_process_started", pid=self._child.pid)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._lock:
                child = self._child
            if child is None:
                return
            started = time.monotonic()
            code = child.wait()
            if self._stopping.is_set():
                return
            failures = 0 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1] if failures else 0.0
            log.error("worker_process_exited", pid=child.pid, code=code, restart_in=delay)
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        """SIGTERM (the worker finishes in-flight jobs, releases the rest), then SIGKILL if it
        has not ended within ``stop_timeout``."""
        self._stopping.set()
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.error("worker_process_killed", pid=child.pid)
                child.kill()
                child.wait()
        if self._thread.is_alive():
            self._thread.join(self.stop_timeout)


class _Terminated(BaseException):
    """SIGTERM, as an exception that unwinds to ``WorkerProcess.running``."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated

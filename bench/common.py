"""Helpers every benchmark shares: stderr logging, free ports, a server subprocess that is
waited for and always stopped, a process's CPU time, and printing the one JSON result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, NamedTuple

import httpx


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server(NamedTuple):
    base: str
    pid: int


@contextmanager
def server_process(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """Start ``command + [port]`` on a free port, wait for /readyz, stop it afterwards."""
    port = free_port()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*command, str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,  # no stray .env file is read
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{command} did not come up:\n{tail}")
                time.sleep(0.1)
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def emit(run: Callable[[], dict[str, Any]]) -> int:
    """Run the benchmark with stdout sent to stderr (the app's logs go there), then print its
    result as the one JSON object on stdout."""
    out = sys.stdout
    with redirect_stdout(sys.stderr):
        result = run()
    out.write(json.dumps(result, indent=2) + "\n")
    out.flush()
    return 0

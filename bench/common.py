"""Helpers every benchmark shares: stderr logging, free ports, a server subprocess that is
waited for and always stopped, a process's CPU time, and printing the one JSON result."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout, suppress
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


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a few tens of microseconds of
    client CPU per request, so that the figures are the server's, not the client's."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased response headers, body); status 0 when the connection failed."""
        try:
            if self.streams is None:
                self.streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self.streams
            head = [
                f"{method} {path} HTTP/1.1",
                f"host: {self.host}:{self.port}",
                f"content-length: {len(body)}",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:] if line)
            }
            if "content-length" not in fields:  # uvicorn sends it for every non-streamed body
                raise ValueError("a response without content-length")
            content = await reader.readexactly(int(fields["content-length"]))
            if fields.get("connection", "").lower() == "close":
                await self.close()
            return status, fields, content
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            await self.close()
            return 0, {}, b""

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

"""Start the persistkit engine as a real subprocess for tests (no tests in this module).

The engine prints ``Ready to accept connections tcp port=N`` (``--port 0`` picks a free
port); we read stdout until that line, bounded by a deadline, never a fixed sleep. A
thread keeps draining the log so the pipe never fills.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ENGINE_CMD = [sys.executable, "-c",
              "import sys; sys.argv[0] = 'persistkit'; from persistkit.cli import main; main()",
              "engine", "serve"]


class EngineProcess:
    def __init__(self, workdir: Path, *args: str, timeout: float = 30.0, save: str = "",
                 appendonly: str = "no", env=None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = ENGINE_CMD + ["--port", "0", "--dir", str(self.workdir), "--save", save,
                            "--appendonly", appendonly, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env or os.environ.copy())
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.port = None
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        if not self.ready.wait(timeout) or self.port is None:
            self.kill()
            raise RuntimeError("engine did not become ready:\n" + "".join(self.lines))

    def _read_log(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if "Ready to accept connections" in line:
                self.port = int(line.rsplit("port=", 1)[1].split()[0])
                self.ready.set()
        self.ready.set()  # exited

    def client(self, db: int = 0, **kw):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=30, **kw)

    def cli(self, *args: str, input: bytes | None = None) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], input=input,
                             capture_output=True, timeout=60)
        return out.stdout.decode("utf-8", "replace")

    def raw(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def log_text(self) -> str:
        return "".join(self.lines)

    def wait_log(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in l for l in self.lines):
                return True
            if self.proc.poll() is not None:
                return any(text in l for l in self.lines)
            time.sleep(0.02)  # polling a log for a condition, bounded by the deadline
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_until(pred, timeout: float = 30.0, step: float = 0.02) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def info(client, section: str = "persistence") -> dict:
    return {k: v for k, v in client.info(section).items()}

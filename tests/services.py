"""Real services for tests and benchmarks: redis-server and our own processes on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

VENV_BIN = Path(sys.executable).parent


_GIVEN: set[int] = set()
_GIVEN_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, and never one this process
    handed out before: stacks started at once in threads bind theirs only later, and the
    kernel would otherwise give two of them the same just-freed port."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        with _GIVEN_LOCK:
            if port not in _GIVEN:
                _GIVEN.add(port)
                return port


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    """Poll ``predicate`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")


def ready_200(url: str) -> bool:
    """True once ``url`` answers 200 (Prometheus' and Alertmanager's ``/-/ready`` answer 503
    while they start)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def http_ok(url: str) -> bool:
    """True when ``url`` answers (any HTTP status counts as up)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def sample_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels`` in the exposition
    ``text`` (a ``/metrics`` page); when several do (a label left out), their sum; None when
    none is exposed."""
    values = [
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(values) if values else None


class RedisServer:
    """A real ``redis-server`` on a free 127.0.0.1 port, without persistence unless
    ``appendonly``: then as deployed (docker-compose.yml), with an AOF fsynced before every
    reply (``appendfsync always``), so that a SIGKILL loses no acknowledged write."""

    def __init__(self, port: int | None = None, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run scripts/setup.sh")
        self.binary = binary
        self.port = port or free_port()
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="amc-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers; a failed start says why and leaves nothing."""
        argv = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--dir", self.dir, "--loglevel", "warning", "--logfile", "redis.log",
        ]  # fmt: skip
        if self.appendonly:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.5)

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                log = Path(self.dir, "redis.log")
                raise RuntimeError(
                    f"redis-server exited: {log.read_text() if log.exists() else ''}"
                )
            return _pings(client)

        try:
            wait_for(up, 10, f"redis-server on port {self.port}")
        except BaseException:
            self.stop()
            raise
        finally:
            client.close()

    def stop(self) -> None:
        """Stop it (without ``appendonly`` the data is not kept)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL it, as a crash or the OOM killer would (its directory stays: ``start``
        brings it back on the same port with whatever it had persisted)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP it for the length of a ``with`` block, then SIGCONT (even when the block
        fails): a hung Redis, whose connections stay open and never answer."""
        proc = self.proc
        assert proc is not None, "redis-server is not running"
        proc.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class Service:
    """One of our own processes (``amc-sandbox serve``...), started and stopped by a test."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        ready_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.ready_url = ready_url
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Service:
        """Start the process and wait until its ready URL answers."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        if self.ready_url is not None:
            try:
                wait_for(self._ready, timeout, f"{self.argv[0]} at {self.ready_url}")
            except TimeoutError as exc:
                self.stop()
                raise TimeoutError(f"{exc}\n--- log ---\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.argv} exited {self.proc.returncode}:\n{self.log_tail()}")
        assert self.ready_url is not None
        return http_ok(self.ready_url)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the process group, then any descendant outside it (an RQ work horse)."""
        if self.proc is None:
            return
        descendants = descendants_of(self.proc.pid)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in descendants:  # an RQ work horse sets up a process group of its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def restart(self, timeout: float = 20.0) -> Service:
        """Stop, then start again."""
        self.stop()
        return self.start(timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of its output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def descendants_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def script(name: str) -> str:
    """The path of one of our console scripts in the running virtual environment."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


@contextlib.contextmanager
def running_redis(appendonly: bool = False) -> Iterator[RedisServer]:
    """A redis-server for the length of a ``with`` block (``appendonly``: see RedisServer)."""
    server = RedisServer(appendonly=appendonly)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()

"""The discovery worker process: a real RQ worker plus the platform's heartbeat thread."""

from __future__ import annotations

import logging
import threading
import time

from redis import Redis, RedisError
from rq import Queue, Worker

from sandbox import discovery, wedge
from sandbox.config import SandboxConfig
from sandbox.keys import DISCOVERY_QUEUE, HEARTBEAT_KEY

log = logging.getLogger(__name__)
HEARTBEAT_KEEP_SECONDS = 86_400
"""The heartbeat key outlives a dead worker by a day, so its age keeps telling."""


class Heartbeat(threading.Thread):
    """Writes the heartbeat every interval and takes ``worker_wedged`` requests."""

    def __init__(self, conn: Redis, interval: float, worker_name: str) -> None:
        super().__init__(name="amc-heartbeat", daemon=True)
        self.conn = conn
        self.interval = interval
        self.worker_name = worker_name
        self.stopped = threading.Event()
        self.started_at = time.time()
        self._last = 0.0

    def run(self) -> None:
        """Tick until stopped; a failed tick is logged and the next one tries again."""
        poll = min(1.0, self.interval)
        while True:
            try:
                self.tick()
            except RedisError:
                log.warning("heartbeat: redis unavailable", exc_info=True)
            except Exception:
                # A dead heartbeat thread would look like a wedged worker: keep it alive.
                log.exception("heartbeat: unexpected error")
            if self.stopped.wait(poll):
                return

    def tick(self) -> None:
        """One poll: take or refresh the wedge, and beat when due and not wedged."""
        if not wedge.STATE.wedged:
            wedge.take_request(self.conn, self.worker_name, self.started_at)
        wedge.refresh_lease(self.conn, self.worker_name)
        now = time.time()
        if not wedge.STATE.wedged and now - self._last >= self.interval:
            self.conn.set(HEARTBEAT_KEY, f"{now:.3f}", ex=HEARTBEAT_KEEP_SECONDS)
            self._last = now

    def stop(self) -> None:
        """End the thread after its current tick."""
        self.stopped.set()


def run_worker(config: SandboxConfig, name: str | None = None, burst: bool = False) -> None:
    """Work the discovery queue until stopped (or until empty with ``burst``)."""
    conn = Redis.from_url(config.redis_url, socket_connect_timeout=5.0)
    discovery.configure(config)
    queue = Queue(DISCOVERY_QUEUE, connection=conn)
    worker = Worker([queue], connection=conn, name=name)
    heartbeat = Heartbeat(conn, config.heartbeat_interval_seconds, worker.name)
    heartbeat.start()
    try:
        worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
    finally:
        heartbeat.stop()
        conn.delete(f"{wedge.WEDGE_HOLDERS_KEY}{worker.name}")

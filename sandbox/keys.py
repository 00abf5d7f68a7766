"""Redis keys, queue and job names of the AMC-TRADER platform, and the sandbox's own keys."""

from typing import Final

DISCOVERY_QUEUE: Final = "amc_discovery"
"""The RQ queue of discovery jobs."""

JOB_FUNC: Final = "sandbox.discovery.run_discovery"
"""The discovery job's function, as RQ imports it in the worker."""

CANDIDATES_KEY: Final = "amc:discovery:candidates:v2"
"""Latest discovery results (JSON), kept for ``cache_ttl_seconds``."""

STATUS_KEY: Final = "amc:discovery:status:v2"
"""Status of the latest discovery job (JSON), kept for ``cache_ttl_seconds``."""

HEARTBEAT_KEY: Final = "amc:discovery:worker:heartbeat"
"""Epoch seconds of the discovery worker's latest heartbeat."""

LOCK_KEY: Final = "discovery_job_lock"
"""Held (SET NX) by the discovery job that is running; expires after ``lock_ttl_seconds``."""

# The sandbox's own keys: its runtime configuration and its faults.
RUNTIME_CONFIG_KEY: Final = "amc:sandbox:config"
"""Hash of runtime settings the platform reads at each discovery (``scoring_strategy``)."""

FAULTS_KEY: Final = "amc:sandbox:faults"
"""Hash of the faults that live in Redis: name -> JSON record."""

WEDGE_REQUEST_KEY: Final = "amc:sandbox:faults:worker_wedged:request"
"""A pending ``worker_wedged`` injection; a running worker takes it into its memory."""

WEDGE_HOLDERS_KEY: Final = "amc:sandbox:faults:worker_wedged:holder:"
"""Prefix of the leases of wedged worker processes (refreshed while the process lives)."""

WEDGE_RELEASE_KEY: Final = "amc:sandbox:faults:worker_wedged:release"
"""Set by ``fault clear worker_wedged``: wedged processes let go when they see it."""

INBOX_KEY: Final = "amc:sandbox:inbox"
"""List of the notifications Alertmanager sent to people (the local stack's stand-in pager)."""

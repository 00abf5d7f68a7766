"""The AMC Management Agent exporter: probes the platform and publishes Prometheus metrics.

The data's way: ``platform_client`` (HTTP) and ``queues`` (RQ/Redis) are read by ``probes`` on
their own schedule; ``integrity`` and ``status`` judge the results; ``snapshot`` derives the view
that ``metrics`` renders on a scrape and that ``probes.probe_once`` returns to the remediator.
Settings: ``config`` (every one with its default in ``example.yml``).
"""

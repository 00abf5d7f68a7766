"""The AMC Management Agent exporter: probes the platform and publishes Prometheus metrics."""

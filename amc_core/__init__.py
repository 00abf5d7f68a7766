"""What the exporter, the remediator and the sandbox share: configuration and JSON logs.

- ``amc_core.config``: a YAML file into a frozen pydantic model, one error format (one line
  naming the source, the field and the value), the ``Listen``, ``RedisUrl`` and ``HttpUrl``
  types, the defaults of ``REDIS_URL`` and ``AMC_PLATFORM_URL``, and the precedence of flags,
  file, environment variables and built-in defaults.
- ``amc_core.logs``: the JSON log line schema (docs/architecture.md, "Logs") and its handler.
"""

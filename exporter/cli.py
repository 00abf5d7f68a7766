"""``amc-exporter``: serve the platform's metrics, or check a configuration file."""

from __future__ import annotations

import logging
import os
import sys

import click
import uvloop
from aiohttp import web

from amc_core import logs
from amc_core.config import DEFAULT_PLATFORM_URL, DEFAULT_REDIS_URL
from exporter.config import DEFAULT_LISTEN, load_config
from exporter.errors import ConfigError
from exporter.server import SUPERVISION, create_app

log = logging.getLogger(__name__)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML file.")
@click.option("--listen", help=f"HOST:PORT to serve /metrics on [default: {DEFAULT_LISTEN}].")
# No click envvar: the variables are defaults only, and the file must win over them.
@click.option(
    "--platform-url",
    help="Platform API base URL [default: the file's, else $AMC_PLATFORM_URL, "
    f"else {DEFAULT_PLATFORM_URL}].",
)
@click.option(
    "--redis-url",
    help=f"The platform's Redis [default: the file's, else $REDIS_URL, else {DEFAULT_REDIS_URL}].",
)
@click.option("--check-config", is_flag=True, help="Validate the configuration and exit.")
def main(
    config_path: str | None,
    listen: str | None,
    platform_url: str | None,
    redis_url: str | None,
    check_config: bool,
) -> None:
    """Probe the AMC-TRADER platform and serve Prometheus metrics.

    Flags override the configuration file, which overrides the defaults ($AMC_PLATFORM_URL
    and $REDIS_URL are defaults).
    """
    try:
        # docs/architecture.md, "Programs": flag > file > environment variable > built-in
        # default; a variable whose flag is given is not looked at.
        config = load_config(
            config_path, os.environ, listen=listen, platform_url=platform_url, redis_url=redis_url
        )
    except ConfigError as exc:
        click.echo(f"amc-exporter: {exc}", err=True)
        sys.exit(2)
    if check_config:
        click.echo(f"amc-exporter: configuration ok ({config_path or 'defaults'})")
        return
    logs.setup(config.log_level)
    host, port = config.listen.rsplit(":", 1)
    log.info("starting", extra={"listen": config.listen, "platform": config.platform.url})
    app = create_app(config)
    try:
        # uvloop: a scrape's HTTP handling costs about half as much as on asyncio's own loop.
        loop = uvloop.new_event_loop()
        web.run_app(app, host=host, port=int(port), print=None, access_log=None, loop=loop)
    except OSError as exc:
        click.echo(f"amc-exporter: cannot listen on {config.listen}: {exc.strerror}", err=True)
        sys.exit(1)
    died = app[SUPERVISION].died
    if died is not None:
        click.echo(f"amc-exporter: the probe loop died: {died!r}", err=True)
        sys.exit(1)

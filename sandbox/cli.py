"""``amc-sandbox``: run the stand-in platform, its worker, its faults and the local stack."""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from aiohttp import web
from redis import RedisError

from amc_core.config import (
    DEFAULT_PLATFORM_URL,
    DEFAULT_REDIS_URL,
    PLATFORM_URL_VARIABLE,
    REDIS_URL_VARIABLE,
)
from sandbox.accesslog import UvicornAccessLogger
from sandbox.config import STRATEGIES, SandboxConfig, load_config
from sandbox.errors import ConfigError, FaultError
from sandbox.faults import PROVIDERS, parse_fault
from sandbox.logs import configure_api_logging, configure_worker_logging


def fail(message: str, code: int = 2) -> NoReturn:
    """Exit with a one-line reason."""
    click.echo(f"amc-sandbox: {message}", err=True)
    sys.exit(code)


def config_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every sandbox service takes; a flag overrides the config file."""
    options = [
        click.option("--config", "config_path", type=click.Path(path_type=Path), help="YAML file."),
        click.option(
            "--redis-url", help=f"Redis URL [env {REDIS_URL_VARIABLE}, else {DEFAULT_REDIS_URL}]."
        ),
        click.option("--seed", type=int, help="Market data seed."),
        click.option("--universe-size", type=int),
        click.option("--market-tick-seconds", type=int, help="0 freezes the market snapshot."),
        click.option("--cache-ttl-seconds", type=int),
        click.option("--lock-ttl-seconds", type=int),
        click.option("--job-timeout-seconds", type=int),
        click.option("--heartbeat-interval-seconds", type=float),
        click.option("--default-limit", type=int),
        click.option("--scoring-strategy", type=click.Choice(STRATEGIES)),
        click.option(
            "--degraded-strategy-delay-seconds", type=float,
            help="low_quality: discovery routes' delay while the active strategy is degraded.",
        ),
        click.option(
            "--degraded-strategy-job-delay-seconds", type=float,
            help="low_quality: added to a discovery job run with a degraded strategy.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load(config_path: Path | None, **flags: Any) -> SandboxConfig:
    try:
        return load_config(config_path, flags)
    except ConfigError as exc:
        fail(str(exc))


@click.group()
def main() -> None:
    """The AMC-TRADER sandbox: the platform's API and discovery worker, with faults."""


@main.command()
@click.option(
    "--listen", help=f"HOST:PORT to listen on [{SandboxConfig.model_fields['listen'].default}]."
)
@config_options
def serve(config_path: Path | None, **flags: Any) -> None:
    """Run the platform's HTTP API."""
    from sandbox.server import create_app

    config = _load(config_path, **flags)
    configure_api_logging()
    try:
        web.run_app(
            create_app(config), host=config.host, port=config.port, print=None,
            access_log_class=UvicornAccessLogger, access_log=logging.getLogger("uvicorn.access"),
        )  # fmt: skip
    except OSError as exc:
        fail(f"cannot listen on {config.listen}: {exc.strerror or exc}", code=1)


@main.command()
@click.option("--name", help="RQ worker name [generated].")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@config_options
def worker(config_path: Path | None, name: str | None, burst: bool, **flags: Any) -> None:
    """Run a discovery worker (RQ, queue amc_discovery) with the platform's heartbeat."""
    from sandbox.worker import run_worker

    config = _load(config_path, **flags)
    configure_worker_logging()
    try:
        run_worker(config, name=name, burst=burst)
    except RedisError as exc:
        fail(f"redis at {config.redis_url}: {exc}", code=1)


api_url_option = click.option(
    "--api-url",
    default=lambda: os.environ.get(PLATFORM_URL_VARIABLE, DEFAULT_PLATFORM_URL),
    show_default=f"env {PLATFORM_URL_VARIABLE}, else {DEFAULT_PLATFORM_URL}",
    help="The sandbox API.",
)


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own API
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        fail(str(body.get("error") or body.get("detail") or exc), code=1)
    except OSError as exc:
        fail(f"cannot reach the sandbox API at {url}: {exc}", code=1)


@main.group()
def fault() -> None:
    """Inject, clear and list faults (through the sandbox API's admin routes)."""


@fault.command("set")
@click.argument("name")
@click.option("--seconds", type=float, help="api_latency: seconds added.")
@click.option("--ratio", type=float, help="api_errors: share of 5xx answers.")
@click.option("--status", type=int, help="api_errors: the 5xx status.")
@click.option("--provider", help=f"provider_down: {' or '.join(PROVIDERS)}.")
@click.option("--strategy", help="low_quality: the strategy that goes bad.")
@click.option("--jobs", type=int, help="stuck_jobs: queued jobs in the backlog.")
@click.option("--orphans", type=int, help="stuck_jobs: started jobs of a dead worker.")
@click.option("--age-seconds", type=float, help="stuck_jobs: age of the backlog.")
@click.option(
    "--kind",
    help="mock_data: demo or fallback; provider_down: unavailable, rate_limited, auth, timeout.",
)
@api_url_option
def fault_set(name: str, api_url: str, **given: Any) -> None:
    """Inject fault NAME with the options given."""
    options = {key: value for key, value in given.items() if value is not None}
    try:
        parse_fault(name, options)
    except FaultError as exc:
        fail(str(exc))
    click.echo(json.dumps(_call("PUT", f"{api_url}/admin/faults/{name}", options)))


@fault.command("clear")
@click.argument("name")
@api_url_option
def fault_clear(name: str, api_url: str) -> None:
    """Remove fault NAME by hand."""
    try:
        parse_fault(name, None)
    except FaultError as exc:
        if str(exc).startswith("unknown fault"):
            fail(str(exc))
    click.echo(json.dumps(_call("DELETE", f"{api_url}/admin/faults/{name}")))


@fault.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@api_url_option
def fault_list(api_url: str, as_json: bool) -> None:
    """List every fault, whether it is active, and what cures it."""
    faults = _call("GET", f"{api_url}/admin/faults")["faults"]
    if as_json:
        click.echo(json.dumps(faults, indent=2))
        return
    for item in faults:
        state = "ACTIVE" if item["active"] else "-"
        click.echo(f"{item['name']:<14} {state:<7} {item['scope']:<15} cure: {item['cure']}")


@main.command()
@click.option(
    "--dir",
    "run_dir",
    type=click.Path(path_type=Path),
    default=Path(".run/stack"),
    show_default=True,
    help="Run directory: configs, logs, data, sockets.",
)
@click.option("--redis-port", type=int, default=6390, show_default=True)
@click.option("--sandbox-port", type=int, default=8700, show_default=True)
@click.option("--exporter-port", type=int, default=9864, show_default=True)
@click.option("--remediator-port", type=int, default=9865, show_default=True)
@click.option("--prometheus-port", type=int, default=9090, show_default=True)
@click.option("--alertmanager-port", type=int, default=9093, show_default=True)
@click.option("--mtail-port", type=int, default=3903, show_default=True)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Every timer (rule for:, windows, cooldowns, TTLs) runs this much faster.",
)
@click.option("--write-only", is_flag=True, help="Write the configurations and exit.")
def up(run_dir: Path, write_only: bool, **settings: Any) -> None:
    """Run the whole loop on this machine under supervisord (in the foreground).

    Says once, at start, where each program answers and the lines that let a shell reach
    the stack (export AMC_REMEDIATOR_CONFIG=..., export AMC_PLATFORM_URL=..., the token file).
    """
    from sandbox.render import StackSettings, binary
    from sandbox.stack import banner, write_stack

    ports = {name: port for name, port in settings.items() if name.endswith("_port")}
    for name, port in ports.items():
        if not 1024 <= port <= 65535:
            fail(f"--{name.replace('_', '-')}: expected a port 1024-65535 (got {port})")
    if len(set(ports.values())) < len(ports):
        fail(f"ports must differ (got {sorted(ports.values())})")
    stack = StackSettings(run_dir=run_dir.resolve(), **settings)
    try:
        conf = write_stack(stack)
        supervisord = binary("supervisord")
        lines = banner(stack)
    except ConfigError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(f"amc-sandbox: {line}")
    if write_only:
        return
    sys.stdout.flush()
    os.execv(supervisord, [supervisord, "-c", str(conf)])  # noqa: S606 - argv list, no shell

"""``amc-remediator``: serve, worker, run, approve, reject, cancel, report, check-config."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import redis

from amc_core import logs
from amc_core.config import DEFAULT_PLATFORM_URL, DEFAULT_REDIS_URL
from remediator import approvals, report, server
from remediator import worker as worker_mod
from remediator.config import DEFAULT_LISTEN, RemediatorConfig, load_config
from remediator.errors import RemediatorError
from remediator.intake import submit
from remediator.records import FINAL, Status
from remediator.store import Store, connect, dumps

CONFIG_ENV = "AMC_REMEDIATOR_CONFIG"
CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar=CONFIG_ENV,
    show_envvar=True,
    help="YAML configuration file (neither flag nor variable: the built-in defaults).",
)
REDIS = click.option(
    "--redis-url",
    help=f"Redis URL (default: the config file's, else $REDIS_URL, else {DEFAULT_REDIS_URL}).",
)
PLATFORM = click.option(
    "--platform-url",
    help="The platform's base URL (default: the config file's, else $AMC_PLATFORM_URL, "
    f"else {DEFAULT_PLATFORM_URL}).",
)


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"amc-remediator: {message}", err=True)
    sys.exit(code)


def _load(path: Path | None, **overrides: Any) -> RemediatorConfig:
    try:
        return load_config(path, overrides)
    except RemediatorError as exc:
        _fail(str(exc))


@click.group()
def main() -> None:
    """AMC remediator: Alertmanager webhook intake, safe decisions, execution on RQ.

    Every command reads its configuration from --config, else from the file that
    $AMC_REMEDIATOR_CONFIG names (`amc-sandbox up` prints the line that sets it for the
    local stack).
    """


@main.command("check-config")
@CONFIG
def check_config(config_path: Path | None) -> None:
    """Validate the configuration (and that the token can be read), then exit."""
    config = _load(config_path)
    try:
        config.token.read()
    except RemediatorError as exc:
        _fail(f"token: {exc}")
    click.echo(f"{config_path or '(defaults)'}: ok")


@main.command()
@CONFIG
@REDIS
@click.option(
    "--listen", help=f"HOST:PORT to listen on (default: the config's, else {DEFAULT_LISTEN})."
)
@PLATFORM
def serve(
    config_path: Path | None, redis_url: str | None, listen: str | None, platform_url: str | None
) -> None:
    """Serve the webhook and the HTTP API."""
    config = _load(config_path, redis_url=redis_url, listen=listen, platform_url=platform_url)
    try:
        token = config.token.read()
    except RemediatorError as exc:
        _fail(f"token: {exc}")
    server.serve(config, token)


@main.command()
@CONFIG
@REDIS
@PLATFORM
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(
    config_path: Path | None, redis_url: str | None, platform_url: str | None, burst: bool
) -> None:
    """Run a remediation worker on the four priority queues (critical first)."""
    config = _load(config_path, redis_url=redis_url, platform_url=platform_url)
    logs.setup()
    worker_mod.work(config, burst=burst)


def _param(values: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _fail(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


@main.command()
@CONFIG
@REDIS
@click.argument("command")
@click.option("--param", "params", multiple=True, help="KEY=VALUE (repeatable).")
@click.option("--wait", default=900.0, show_default=True, help="Seconds to wait for the end.")
def run(
    config_path: Path | None, redis_url: str | None, command: str, params: tuple[str, ...],
    wait: float,
) -> None:  # fmt: skip
    """Run one command through the queue, wait for it and print its record.

    Under dry-run the command is recorded, not run (exit 0, and stderr says so).
    """
    config = _load(config_path, redis_url=redis_url)
    store = Store(connect(config.redis_url, config.redis_timeout_seconds), config)
    try:
        execution_id = submit(store, command, _param(params), "cli")
        deadline = time.monotonic() + wait
        record = store.get_execution(execution_id)
        while record is not None and record.status not in FINAL:
            if time.monotonic() > deadline:
                _fail(f"{execution_id} still {record.status.value} after {wait:.0f}s", 3)
            time.sleep(0.2)
            record = store.get_execution(execution_id)
    except (RemediatorError, redis.RedisError) as exc:
        _fail(str(exc), 1)
    if record is None:
        _fail(f"{execution_id}: the record expired", 1)
    click.echo(json.dumps(dumps(record), indent=2))
    if record.status is Status.DRY_RUN:
        click.echo(f"amc-remediator: dry run: {command} was recorded, not run", err=True)
    sys.exit(0 if record.status in (Status.SUCCEEDED, Status.DRY_RUN) else 1)


def _answer(action: str, config_path: Path | None, redis_url: str | None, execution_id: str,
            by: str, reason: str | None) -> None:  # fmt: skip
    config = _load(config_path, redis_url=redis_url)
    store = Store(connect(config.redis_url, config.redis_timeout_seconds), config)
    do = {"approve": approvals.approve, "reject": approvals.reject, "cancel": approvals.cancel}
    try:
        by, reason = approvals.check_words(by, reason)
        record = do[action](store, execution_id, by, reason, time.time())
    except (RemediatorError, redis.RedisError) as exc:
        _fail(str(exc), 1)
    click.echo(json.dumps(dumps(record), indent=2))


BY = click.option("--by", default=lambda: os.environ.get("USER") or "cli", show_default="$USER",
                  help="Who answers (recorded with the reason).")  # fmt: skip
WHY = click.option("--reason", help="Why (recorded).")


ANSWERS = {
    "approve": "Approve an execution awaiting approval: it is queued with its original priority.",
    "reject": "Reject an execution awaiting approval: it ends rejected and nothing runs.",
    "cancel": "Cancel an execution that has not started (a running one is never interrupted).",
}


def _answer_command(action: str, summary: str) -> None:
    """``amc-remediator approve|reject|cancel EXECUTION_ID [--by] [--reason]``."""

    @main.command(action, help=summary)
    @CONFIG
    @REDIS
    @click.argument("execution_id")
    @BY
    @WHY
    def command(
        config_path: Path | None, redis_url: str | None, execution_id: str, by: str,
        reason: str | None,
    ) -> None:  # fmt: skip
        _answer(action, config_path, redis_url, execution_id, by, reason)


for _action, _summary in ANSWERS.items():
    _answer_command(_action, _summary)


@main.command("report")
@CONFIG
@REDIS
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def report_cmd(config_path: Path | None, redis_url: str | None, fmt: str) -> None:
    """Print the status report."""
    config = _load(config_path, redis_url=redis_url)
    store = Store(connect(config.redis_url, config.redis_timeout_seconds), config)
    try:
        data = report.build(store)
    except redis.RedisError as exc:
        _fail(f"Redis unreachable: {exc}", 1)
    click.echo(json.dumps(data, indent=2) if fmt == "json" else report.render_text(data), nl=False)
    if fmt == "json":
        click.echo()


if __name__ == "__main__":
    main()

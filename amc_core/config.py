"""Configuration as the three programs read it: a YAML file into a validated, frozen model.

Precedence (docs/architecture.md, "Programs"): a flag overrides the file, which overrides the
environment variables (``REDIS_URL``, ``AMC_PLATFORM_URL``: defaults only), which override the
built-in defaults. ``load`` reads the file and validates it, then ``apply`` puts each variable
where neither the file nor a flag set its field, and each flag given, validating only the
field it replaces.

Every error is a ``ConfigError`` (or the caller's subclass of it) of one line:
``<source>: <field>: <what is wrong> (got <value>)``, the source being the file, or the flag
or variable whose value is wrong (then without the field, which it names). Where several
fields are wrong, an unknown field is told first, since it explains the others; an unknown
field is told without its value (``<source>: <field>: unknown field``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PLATFORM_URL = "http://127.0.0.1:8700"
REDIS_URL_VARIABLE = "REDIS_URL"
PLATFORM_URL_VARIABLE = "AMC_PLATFORM_URL"

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """The configuration is unreadable or invalid; the message is one line naming the field."""


class FieldError(ValueError):
    """A model validator's error that belongs to one of its fields (a dotted path below the
    model): the message names that field and its value, not the model."""

    def __init__(self, field: str, value: Any, message: str) -> None:
        super().__init__(message)
        self.field, self.value = field, value


class Model(BaseModel):
    """Our own configuration: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_listen(value: str) -> str:
    """A ``HOST:PORT`` listen address, or ValueError."""
    host, _, port = value.rpartition(":")
    if not host or re.search(r"\s", host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT with a port 1-65535")
    return value


def check_redis_url(value: str) -> str:
    """A ``redis://``, ``rediss://`` or ``unix://`` URL, or ValueError."""
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def check_http_url(value: str) -> str:
    """An ``http://`` or ``https://`` URL with a host, without its trailing slashes."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


Listen = Annotated[str, AfterValidator(check_listen)]
RedisUrl = Annotated[str, AfterValidator(check_redis_url)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]


def first_error(exc: ValidationError) -> ErrorDetails:
    """The error to report: an unknown field first, since it explains the others."""
    return sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]


def describe(exc: ValidationError, source: str | None, with_field: bool = True) -> str:
    """One line naming the source, the first bad field, what is wrong and the value."""
    error = first_error(exc)
    parts = [str(part) for part in error["loc"] if part != "[key]"]
    value, message = error.get("input"), str(error["msg"]).removeprefix("Value error, ")
    ctx = error.get("ctx", {})
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        parts, value, message = [*parts, *cause.field.split(".")], cause.value, str(cause)
    elif error["type"] == "union_tag_invalid":  # blame the tag, not the whole mapping
        parts.append(str(ctx["discriminator"]).strip("'"))
        value, message = ctx["tag"], f"Input should be one of {ctx['expected_tags']}"
    unknown = error["type"] == "extra_forbidden"
    what = "unknown field" if unknown else f"{message} (got {value!r})"
    head = [source] if source else []
    if with_field:
        head.append(".".join(parts) or "(top level)")
    return ": ".join([*head, what])


def validate(
    model: type[M], data: Any, source: str | None, error: type[ConfigError] = ConfigError
) -> M:
    """A mapping (None: empty) validated into ``model``, or a one-line ``error``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        where = f"{source}: " if source else ""
        raise error(f"{where}(top level): must be a mapping (got {data!r})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe(exc, source)) from None


def read_yaml(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    """The YAML document in the file at ``path``, or a one-line ``error``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}: not valid YAML{where}: {problem}") from None


def replace(
    model: M, path: str, value: Any, source: str, error: type[ConfigError] = ConfigError
) -> M:
    """A copy of ``model`` with the field at the dotted ``path`` replaced and validated; an
    error blames ``source`` (a flag or a variable)."""
    name, _, rest = path.partition(".")
    if rest:
        inner = replace(getattr(model, name), rest, value, source, error)
        return model.model_copy(update={name: inner})
    try:
        # Sub-models pass as instances and are not validated again: only ``name`` is.
        return type(model).model_validate({**dict(model), name: value})
    except ValidationError as exc:
        raise error(describe(exc, source, with_field=False)) from None


def _set_by_file(model: BaseModel, path: str) -> bool:
    *sections, name = path.split(".")
    for section in sections:
        model = getattr(model, section)
    return name in model.model_fields_set


def apply(
    config: M,
    flags: Mapping[str, tuple[str, Any]] | None = None,
    environment: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    error: type[ConfigError] = ConfigError,
) -> M:
    """``config`` (as the file set it) with the environment's defaults and the flags.

    ``flags`` maps a field's dotted path to the flag's name and value (None: not given);
    ``environment`` maps a field's dotted path to the variable that is its default, read
    from ``environ`` where neither the file nor a flag set the field.
    """
    flags, environment, environ = flags or {}, environment or {}, environ or {}
    changes: list[tuple[str, Any, str]] = []
    for path, variable in environment.items():
        value = environ.get(variable)
        flagged = flags.get(path, ("", None))[1] is not None
        if value and not flagged and not _set_by_file(config, path):
            changes.append((path, value, variable))
    changes += [(path, value, flag) for path, (flag, value) in flags.items() if value is not None]
    for path, value, source in changes:
        config = replace(config, path, value, source, error)
    return config


def load(
    model: type[M],
    path: Path | str | None,
    flags: Mapping[str, tuple[str, Any]] | None = None,
    environment: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    error: type[ConfigError] = ConfigError,
) -> M:
    """The file at ``path`` (the defaults when None) validated into ``model``, then ``apply``."""
    data = None if path is None else read_yaml(Path(path), error)
    config = validate(model, data, None if path is None else str(path), error)
    return apply(config, flags, environment, environ, error)

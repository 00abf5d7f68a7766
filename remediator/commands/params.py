"""The typed parameters of the commands that take any, validated where they enter: an
operator's run (400 naming the field), the configuration (exit 2), and the command itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ValidateAlgorithms(_Params):
    """VALIDATE_ALGORITHMS: apply the best strategy (default) or only report it."""

    apply_best: bool = True


class UpdateConfiguration(_Params):
    """UPDATE_CONFIGURATION: the platform's runtime settings to change (at least one)."""

    strategy: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    limit: int | None = Field(default=None, ge=1, le=500)


SCHEMAS: dict[str, type[_Params]] = {
    "VALIDATE_ALGORITHMS": ValidateAlgorithms,
    "UPDATE_CONFIGURATION": UpdateConfiguration,
}


class ParamsError(ValueError):
    """A parameter is wrong: ``field`` names it (``params.<name>``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def parse(command: str, params: dict[str, Any], strategies: list[str]) -> _Params | None:
    """The typed parameters of ``command`` (None when it takes none); ParamsError when a
    parameter is unknown, of the wrong type or out of range, or a strategy not configured."""
    schema = SCHEMAS.get(command)
    if schema is None:
        if params:
            raise ParamsError("params", f"{command} takes no parameters")
        return None
    try:
        parsed = schema.model_validate(params)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = "params." + ".".join(str(part) for part in error["loc"])
        message = "unknown parameter" if error["type"] == "extra_forbidden" else error["msg"]
        raise ParamsError(field, message) from None
    strategy = getattr(parsed, "strategy", None)
    if strategy is not None and strategy not in strategies:
        raise ParamsError("params.strategy", f"{strategy!r} is not one of {strategies}")
    return parsed

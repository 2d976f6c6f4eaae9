"""Errors a user can cause, each phrased as ``path.to.field: what is wrong (allowed: ...)``."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

# Union members are tagged by their ``kind``; pydantic puts the tag into the error location.
_TAGS = {"poisson", "burst", "interval", "trace", "fixed", "exponential", "lognormal", "forever"}


class SimcontainerError(Exception):
    """Base for errors caused by input, reported without a traceback by the CLI and the UI."""


class ScenarioError(SimcontainerError, ValueError):
    """A scenario (or sweep) that cannot run; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str], source: str = "scenario") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        return f"{self.source}: {n} problem{'s' if n != 1 else ''}\n{lines}"


_NUMBER_KINDS = {
    "float_type": "a finite number, not text or true/false",
    "int_type": "an integer, not text or true/false",
    "int_from_float": "an integer",
    "finite_number": "a finite number; nan and inf are refused",
    "bool_type": "true, false",
    "int_parsing_size": "an integer between -2**63 and 2**63",
}


_BOUNDS = {"greater_than": "greater than", "greater_than_equal": "greater than or equal to",
           "less_than": "less than", "less_than_equal": "less than or equal to"}


def _table_hint(root: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """What belongs where a table was expected: its kinds (a union) or its keys."""
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if last in ("arrival", "lifetime"):
        tags = {"arrival": "poisson, burst, interval, trace, azure",
                "lifetime": "fixed, exponential, lognormal, forever"}[last]
        return f"a table {{ kind = ... }} with kind one of {tags}"
    if last == "host":
        return "a host preset name from models/hosts.toml, or a table with cpu_cores, ram_mib, disk_gib"
    model = _model_at(root, loc) if root is not None else None
    if model is not None:
        return f"a table with keys from {_allowed_keys(model)}"
    return "a table { key = value, ... }"


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    prev: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS and prev in ("arrival", "lifetime"):
            pass  # the union tag, already named by the value of `kind`
        else:
            out += f".{part}" if out else str(part)
        prev = part
    return out or "(top level)"


def _allowed_keys(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model is not None else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_validation_error(exc: ValidationError, root: type[BaseModel] | None = None) -> list[str]:
    """One line per pydantic error, naming the field, the value and what is allowed.

    ``root`` is the model validated (it names the keys allowed where an unknown one was found).
    """
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        where = _loc(loc)
        kind = err["type"]
        value = err.get("input")
        msg = err["msg"]
        if kind == "missing":
            line = f"{where}: missing (required)"
        elif kind == "extra_forbidden":
            parent = _model_at(root, loc[:-1]) if root is not None else None
            line = f"{where}: unknown key (allowed: {_allowed_keys(parent)})"
        elif kind == "value_error":
            line = f"{where}: {msg.removeprefix('Value error, ')}"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = err.get("ctx", {}).get("expected_tags", "")
            line = f"{where}.kind: got {_short(value.get('kind') if isinstance(value, dict) else value)} (allowed: {tags})"
        elif kind in _NUMBER_KINDS:
            line = f"{where}: got {_short(value)} (allowed: {_NUMBER_KINDS[kind]})"
        elif kind == "string_type":
            line = f"{where}: got {_short(value)} (allowed: a string{', a name' if isinstance(value, list | dict) else ''})"
        elif kind in _BOUNDS:
            ctx = err.get("ctx", {})
            bound = next((f"{_BOUNDS[kind]} {_num(ctx[k])}" for k in ("gt", "ge", "lt", "le") if k in ctx), msg)
            line = f"{where}: got {_short(value)} (allowed: a number {bound})"
        elif kind == "string_too_short":
            line = f"{where}: got {_short(value)} (allowed: a non-empty string)"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            line = f"{where}: got {_short(value)} (allowed: {_table_hint(root, loc)})"
        elif kind == "list_type":
            line = f"{where}: got {_short(value)} (allowed: a list, [ ... ])"
        elif kind == "literal_error":
            line = f"{where}: got {_short(value)} (allowed: {err.get('ctx', {}).get('expected', '')})"
        else:
            line = f"{where}: got {_short(value)}; {msg[0].lower() + msg[1:]}"
        lines.append(line)
    return lines


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk the schema to the model at ``loc`` (for listing the keys allowed there)."""

    model: Any = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if part in _TAGS:
            model = _union_member(model, part)
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = _unwrap(field.annotation, typing)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(ann: Any, typing: Any) -> Any:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0], typing)
    if origin is list:
        return _unwrap(typing.get_args(ann)[0], typing)
    if origin is not None:  # a union: keep it, members are picked by tag
        return ann
    return ann


def _union_member(union: Any, tag: str) -> Any:
    for member in typing.get_args(union):
        f = getattr(member, "model_fields", {}).get("kind")
        if f is not None and typing.get_args(f.annotation) == (tag,):
            return member
    return None

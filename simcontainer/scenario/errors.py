"""Errors a user can cause, each phrased as ``path.to.field: what is wrong (allowed: ...)``."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

# Union members are tagged by their ``kind``; pydantic puts the tag into the error location.
_TAGS = {"poisson", "burst", "interval", "trace", "azure", "fixed", "exponential", "lognormal", "forever"}
# Fields holding such a union: the tag after them in a location is not a key the user wrote.
_UNION_FIELDS = {"arrival": "poisson, burst, interval, trace, azure",
                 "lifetime": "fixed, exponential, lognormal, forever",
                 "time_to_failure": "fixed, exponential, lognormal, forever"}


def did_you_mean(value: Any, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option to a mistyped name, or ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters; an integer too long to print (Python refuses to
    convert one of more than 4,300 digits) is described by its size instead."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits:,} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    if last in _UNION_FIELDS:
        return f"a table {{ kind = ... }} with kind one of {_UNION_FIELDS[last]}"
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
        elif part in _TAGS and prev in _UNION_FIELDS:
            pass  # the union tag, already named by the value of `kind`
        else:
            out += f".{part}" if out else str(part)
        prev = part
    return out or "(top level)"


def _allowed_keys(model: type[BaseModel] | None) -> str:
    return ", ".join(model.model_fields) if model is not None else "the keys this table documents"


def _short(value: Any) -> str:
    return short_repr(value)


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
            hint = did_you_mean(loc[-1], parent.model_fields) if parent is not None else ""
            line = f"{where}: unknown key (allowed: {_allowed_keys(parent)}){hint}"
        elif kind == "value_error":
            line = f"{where}: {msg.removeprefix('Value error, ')}"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            tags = err.get("ctx", {}).get("expected_tags", "")
            tags = tags or _UNION_FIELDS.get(next((p for p in reversed(loc) if isinstance(p, str)), ""), "")
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
        elif kind == "too_short":
            least = err.get("ctx", {}).get("min_length", 1)
            line = f"{where}: got {_short(value)} (allowed: a list of at least {least} entr{'y' if least == 1 else 'ies'})"
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
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(ann: Any) -> Any:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated or origin is list:
        return _unwrap(typing.get_args(ann)[0])
    if origin is not None:
        # ``X | None`` is X; a tagged union is kept (its members are picked by tag)
        members = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        return ann
    return ann


def _union_member(union: Any, tag: str) -> Any:
    union = _unwrap(union)
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    for member in typing.get_args(union):
        f = getattr(member, "model_fields", {}).get("kind")
        if f is not None and typing.get_args(f.annotation) == (tag,):
            return member
    return None

"""Loading a scenario: cross-references against the catalogue, presets, trace files, warm
figures; then parse / load / dump / save. The models themselves are in
:mod:`simcontainer.scenario.schema`."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from simcontainer.scenario.errors import ScenarioError, format_validation_error
from simcontainer.scenario.profiles import Catalogue, default_catalogue
from simcontainer.scenario.references import check_references, check_static, expand_host_preset
from simcontainer.scenario.schema import Scenario


def parse_scenario(data: dict[str, Any], *, base_dir: str | Path | None = None,
                   catalogue: Catalogue | None = None, source: str = "scenario") -> Scenario:
    """Validate plain data into a :class:`Scenario`; raise :class:`ScenarioError` listing every problem."""

    catalogue = catalogue or default_catalogue()
    if not isinstance(data, dict):
        raise ScenarioError([f"expected a table of settings, got {type(data).__name__}"], source=source)
    not_scenario = sweep_file_problem(data, source)
    if not_scenario:
        raise ScenarioError([not_scenario], source=source)
    base = str(base_dir) if base_dir is not None else data.get("base_dir")
    data, problems = expand_host_preset(data, catalogue)
    problems += check_references(data, catalogue, base)
    scenario = None
    try:
        scenario = Scenario.model_validate({**data, "base_dir": base})
    except ValidationError as exc:
        # A field a reference check has already explained needs no second, vaguer line.
        explained = {p.split(":", 1)[0] for p in problems}
        problems = [p for p in format_validation_error(exc, Scenario) if p.split(":", 1)[0] not in explained] + problems
    if scenario is not None and not problems:
        problems = check_static(scenario, catalogue)
    if problems:
        raise ScenarioError(problems, source=source)
    assert scenario is not None
    return scenario


SWEEP_ONLY_KEYS = ("axes", "replications", "mode", "samples")


def sweep_file_problem(data: dict[str, Any], source: str = "FILE") -> str | None:
    """A sweep file given where a scenario belongs (``run``, ``check``): one line saying so, not
    a "missing"/"unknown key" line per setting."""
    if "workloads" in data or not (any(k in data for k in SWEEP_ONLY_KEYS) or isinstance(data.get("base"), str)):
        return None
    return (f"(top level): this is a sweep file (it has {', '.join(k for k in ('base', *SWEEP_ONLY_KEYS) if k in data)}): "
            f"use simcontainer sweep {source} (allowed here: a scenario file with name, duration_s, host "
            "and [[workloads]])")


def read_toml_text(text: str, source: str) -> dict[str, Any]:
    """TOML text as data; malformed text, or an integer too long for Python to convert (more than
    4,300 digits: a ValueError from tomllib, not a TOMLDecodeError), is a :class:`ScenarioError`."""
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"malformed TOML: {exc}"], source=source) from None
    except ValueError as exc:
        raise ScenarioError([f"malformed TOML: {str(exc).split(';')[0]} (allowed: integers of at most "
                             "4,300 digits; a scenario's counts stop at 2**63)"], source=source) from None


def loads_scenario(text: str, *, base_dir: str | Path | None = None,
                   catalogue: Catalogue | None = None, source: str = "scenario") -> Scenario:
    data = read_toml_text(text, source)
    return parse_scenario(data, base_dir=base_dir, catalogue=catalogue, source=source)


def load_scenario(path: str | Path, *, catalogue: Catalogue | None = None) -> Scenario:
    """Read and validate a scenario file. Raises :class:`ScenarioError` on any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"cannot read file: {exc.strerror or exc}"], source=str(p)) from None
    try:
        text = raw.decode("utf-8-sig")   # a byte-order mark (Windows editors) is not content
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"not UTF-8 text: {exc}"], source=str(p)) from None
    return loads_scenario(text, base_dir=p.resolve().parent, catalogue=catalogue, source=str(p))


def dumps_scenario(scenario: Scenario) -> str:
    return tomli_w.dumps(_toml_ready(scenario.to_dict()))


def save_scenario(scenario: Scenario, path: str | Path) -> None:
    Path(path).write_text(dumps_scenario(scenario), encoding="utf-8")


def _toml_ready(obj: Any) -> Any:
    """TOML has no null and wants tables after values; drop Nones and empty tables of defaults."""
    if isinstance(obj, dict):
        return {k: _toml_ready(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_toml_ready(v) for v in obj]
    return obj


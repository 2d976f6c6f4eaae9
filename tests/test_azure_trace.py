"""Arrivals from Azure Functions 2019 invocation files, and the stand-in in models/traces (issue 15)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import simcontainer as sc
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.profiles import models_dir
from simcontainer.scenario.workload import AZURE_MINUTES, TraceError, read_azure

TRACES = Path(models_dir()) / "traces"
STANDIN = TRACES / "azure-functions-standin.d01.csv"
HEADER = ["HashOwner", "HashApp", "HashFunction", "Trigger", *map(str, range(1, AZURE_MINUTES + 1))]


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen", TRACES / "generate_azure_standin.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write(tmp_path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    p = tmp_path / "invocations_per_function_md.anon.d01.csv"
    lines = [",".join(header if header is not None else HEADER)] + [",".join(r) for r in rows]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def row(fn: str = "f1", trigger: str = "http", counts: list[int] | None = None) -> list[str]:
    counts = counts if counts is not None else [0] * AZURE_MINUTES
    return ["o1", "a1", fn, trigger, *map(str, counts)]


def scenario(path: Path, **arrival: Any) -> sc.Scenario:
    return sc.parse_scenario({
        "name": "azure", "duration_s": arrival.pop("duration_s", 600.0), "seed": 4,
        "host": {"cpu_cores": 8, "ram_mib": 65536, "disk_gib": 100},
        "workloads": [{"name": "fn", "runtime": "runc", "image": "alpine:3.20", "mem_mib": 32,
                       "arrival": {"kind": "azure", "path": str(path), **arrival},
                       "lifetime": {"kind": "fixed", "s": 0.5}}],
    })


# --------------------------------------------------------------------------- the stand-in


def test_the_stand_in_is_what_its_committed_generator_writes() -> None:
    gen = generator()
    expected = [",".join(HEADER)] + [",".join(r) for r in gen.generate()]
    assert STANDIN.read_text(encoding="utf-8").splitlines() == expected


def test_the_stand_in_has_the_published_shape() -> None:
    gen = generator()
    shape = gen.shape(gen.generate())
    assert shape["functions"] == 120
    # trigger mix of invocations (Shahrad et al. ATC'20, Fig. 2): within 2 points for the big three
    for trig, share in (("http", 0.36), ("queue", 0.34), ("event", 0.25)):
        assert shape["share_of_invocations"][trig] == pytest.approx(share, abs=0.02)
    assert shape["share_of_functions"]["http"] == pytest.approx(0.55, abs=0.05)
    assert shape["orders_of_magnitude"] >= 4           # as far as one day of 120 functions can go
    assert shape["at_most_hourly"] >= 0.4               # most functions are invoked rarely


def test_the_loader_reads_the_stand_in() -> None:
    total = read_azure(STANDIN)
    assert len(total) == AZURE_MINUTES and sum(total) > 100_000
    first_fn = STANDIN.read_text(encoding="utf-8").splitlines()[1].split(",")[2]
    one = read_azure(STANDIN, first_fn)
    assert len(one) == AZURE_MINUTES and all(c >= 0 for c in one)


def test_a_function_row_drives_arrivals_minute_by_minute(tmp_path: Path) -> None:
    counts = [0] * AZURE_MINUTES
    counts[0], counts[1], counts[3] = 3, 1, 2       # minute 1, 2, 4 of the file
    p = write(tmp_path, [row("f1", counts=counts), row("f2", counts=[5] * AZURE_MINUTES)])
    res = sc.simulate(scenario(p, function="f1", duration_s=300.0))
    t = sorted(res.instances["t_request"])
    assert len(t) == 6
    assert all(0 <= x < 60 for x in t[:3]) and 60 <= t[3] < 120 and all(180 <= x < 240 for x in t[4:])
    # every row summed; starting at minute 3 (index 2) moves minute 4 to [60, 120)
    res = sc.simulate(scenario(p, start_minute=2, duration_s=119.0))
    assert res.summary["workloads"]["fn"]["requested"] == 5 + 2 + 5


def test_scale_thins_the_counts_and_runs_are_deterministic() -> None:
    full = sc.simulate(scenario(STANDIN, duration_s=300.0, scale=0.1)).summary
    again = sc.simulate(scenario(STANDIN, duration_s=300.0, scale=0.1)).summary
    assert full == again
    expected = 0.1 * sum(read_azure(STANDIN)[:5])
    assert full["workloads"]["fn"]["requested"] == pytest.approx(expected, rel=0.3)


# --------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(("rows", "header", "message"), [
    ([], None, "line 2: no rows after the header"),
    ([row()], HEADER[:3] + ["Trig"] + HEADER[4:], "line 1: column 4 is 'Trig', expected 'Trigger'"),
    ([row()], HEADER[:-1], "line 1: column 1444 is the end of the line, expected '1440'"),
    ([row(), ["o", "a", "f2", "http", "1"]], None, "line 3: 5 fields but the header has 1444"),
    ([row(counts=[0] * 6 + [-1] + [0] * 1433)], None, "line 2: minute 7 = '-1'"),
    ([row(counts=[0] * 9 + ["1.5"] + [0] * 1430)], None, "line 2: minute 10 = '1.5'"),  # type: ignore[list-item]
    ([row(trigger="cron")], None, "line 2: Trigger = 'cron'"),
    ([row(fn=" ")], None, "line 2: HashFunction is empty"),
    ([row("f"), row("f")], None, "line 3: HashFunction 'f' has a row already"),
])
def test_malformed_files_are_refused_with_their_line(tmp_path: Path, rows: list[list[str]],
                                                     header: list[str] | None, message: str) -> None:
    p = write(tmp_path, rows, header)
    with pytest.raises(TraceError, match="^" + message.replace("(", r"\(")):
        read_azure(p)
    # and a scenario using it says where: path, then line
    with pytest.raises(ScenarioError) as err:
        scenario(p)
    assert any(q.startswith(f"workloads[0].arrival.path: {message}") for q in err.value.problems), err.value.problems


def test_an_unknown_function_an_empty_file_and_a_missing_file(tmp_path: Path) -> None:
    p = write(tmp_path, [row("f1")])
    with pytest.raises(ScenarioError) as err:
        scenario(p, function="nope")
    assert "HashFunction 'nope' is in no row of the file" in err.value.problems[0]
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TraceError, match="^line 1: empty file"):
        read_azure(empty)
    with pytest.raises(ScenarioError) as err:
        scenario(tmp_path / "missing.csv")
    assert "not found" in err.value.problems[0]


def test_bytes_and_quoting_problems_name_their_line(tmp_path: Path) -> None:
    p = write(tmp_path, [row("f1"), row("f2")])
    raw = p.read_bytes().replace(b"f2", b"f\xff")
    p.write_bytes(raw)
    with pytest.raises(TraceError, match="^line 3: not UTF-8 text, byte 0xff"):
        read_azure(p)
    p.write_text(",".join(HEADER) + '\no1,a1,"f1,http\n', encoding="utf-8")
    with pytest.raises(TraceError, match="malformed CSV"):
        read_azure(p)

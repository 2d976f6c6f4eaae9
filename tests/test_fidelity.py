"""The fidelity report regenerates to the committed docs/fidelity.md, and it keeps calibration and
validation apart.

One regeneration (into a temporary folder) serves every test here; it takes some seconds.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

import simcontainer.studies.fidelity as fid
from simcontainer.faces.cli import main
from simcontainer.studies.fidelity import (
    CLOSE,
    INSIDE,
    TIMING_PREFIX,
    Figure,
    fitted_parameters,
    generate,
    load_published,
    runtime_table,
    split,
    strip_timings,
    verdict,
)
from simcontainer.studies.fidelity.figures import parse_published

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "fidelity.md"
README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- runtime-table:start", "<!-- runtime-table:end -->"

pytestmark = pytest.mark.xdist_group("fidelity")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("fidelity") / "fidelity.md"
    return generate(out), out


def test_regenerates_to_the_committed_report(report):
    rep, out = report
    assert COMMITTED.is_file(), "docs/fidelity.md is missing: run `make fidelity`"
    committed = COMMITTED.read_text(encoding="utf-8")
    assert any(line.startswith(TIMING_PREFIX) for line in committed.splitlines())
    fresh, old = strip_timings(out.read_text(encoding="utf-8")), strip_timings(committed)
    if fresh != old:
        diff = "\n".join(list(difflib.unified_diff(old.splitlines(), fresh.splitlines(), "committed",
                                                   "regenerated", lineterm="", n=0))[:40])
        pytest.fail(f"docs/fidelity.md is stale -- run `make fidelity` and commit it:\n{diff}")


def test_plots_are_written_and_embedded(report):
    rep, out = report
    assert len(rep.plots) >= 6
    for p in rep.plots:
        assert p.is_file() and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({p.parent.name}/{p.name})" in rep.markdown
        assert (COMMITTED.parent / p.parent.name / p.name).is_file(), f"plot {p.name} not committed"


# --------------------------------------------------------------------------- calibration vs validation


def test_no_source_is_both_fitted_to_and_validating(report):
    rep, _ = report
    fitted = fitted_parameters()
    cal_sources = {r["figure"].source for r in rep.calibration}
    val_sources = {r["figure"].source for r in rep.validation}
    assert cal_sources.isdisjoint(val_sources)
    assert val_sources.isdisjoint(fitted), "a validation figure's source has a parameter fitted to it"
    assert cal_sources <= set(fitted)
    # every published figure is in exactly one part
    ids = [r["id"] for r in rep.calibration + rep.validation]
    assert sorted(ids) == sorted(f.id for f in load_published().figures)


def test_every_fitted_to_names_a_published_source():
    pub = load_published()
    fitted = fitted_parameters()
    assert set(fitted) <= set(pub.sources), set(fitted) - set(pub.sources)
    # the parameters the calibration arithmetic of models/README.md rests on say what they were fitted to
    assert "control-planes/dockerd.toml api.median_s" in fitted["moby-42096"]
    assert "control-planes/dockerd.toml network.serial_s" in fitted["for-linux-121"]
    assert "runtimes/kata.toml boot.median_s" in fitted["kata-ci"]
    assert "images.toml ubuntu-24.04-cloud guest_boot.median_s" in fitted["depot"]
    assert "warm.toml restore.firecracker.load_s" in fitted["fc-snapshot"]
    assert "warm.toml restore.firecracker.ci_load_ms" in fitted["fc-snapshot-ci"]


def test_the_restore_baselines_the_load_is_shaped_by_are_calibration_not_validation(report):
    """warm.toml's ci_load_ms is Firecracker's one-factor CI baselines: their figure confirms
    nothing; the later co-scaled CI setup, which nothing is fitted to, stays a validation figure."""
    rep, _ = report
    cal = {r["id"] for r in rep.calibration}
    val = {r["id"] for r in rep.validation}
    assert {"fc-restore-target", "fc-restore-ci"} <= cal
    assert "fc-restore-ci-scaling" in val and not {"fc-restore-target", "fc-restore-ci"} & val


def test_a_source_gains_a_fitted_parameter_and_leaves_validation():
    pub = load_published()
    fitted = fitted_parameters()
    _, val = split(pub, fitted)
    assert any(f.source == "youki-readme" for f in val)
    cal, val = split(pub, {**fitted, "youki-readme": ["runtimes/runc.toml stop.median_s"]})
    assert not any(f.source == "youki-readme" for f in val)
    assert any(f.source == "youki-readme" for f in cal)


def test_validation_verdicts_use_the_fixed_tolerances(report):
    rep, _ = report
    assert (CLOSE, INSIDE) == (1.25, 2.0)
    for r in rep.validation:
        f, m = r["figure"], r["model"]
        off = max(m / f.high, f.low / m if m > 0 else float("inf"), 1.0)
        want = "close" if off <= CLOSE else "inside 2x" if off <= INSIDE else "outside 2x"
        assert r["verdict"] == want, r["id"]
        assert r["inside"] == (off <= INSIDE)
    assert not any("verdict" in r for r in rep.calibration), "calibration figures get a ratio, never a verdict"


def _figure(low: float, high: float) -> Figure:
    return Figure("x", "s", "runc", "start", "what", "conditions", low, high, "shown")


@pytest.mark.parametrize(("low", "high", "model", "want"), [
    (1.0, 1.0, 1.2, "close"), (1.0, 1.0, 0.81, "close"), (1.0, 1.0, 1.9, "inside 2x"),
    (1.0, 1.0, 0.51, "inside 2x"), (1.0, 1.0, 2.1, "outside 2x"), (1.0, 1.0, 0.45, "outside 2x"),
    (0.1, 0.3, 0.2, "close"), (0.1, 0.3, 0.5, "inside 2x"), (0.0, 0.125, 0.01, "close"), (0.0, 0.125, 0.3, "outside 2x"),
])
def test_verdict_by_hand(low, high, model, want):
    assert verdict(_figure(low, high), model) == want


def test_summary_counts_validation_only(report):
    rep, _ = report
    line = next(x for x in rep.markdown.splitlines() if x.startswith("- **Validation:"))
    n_in, n = map(int, re.search(r"(\d+) of (\d+) published figures inside", line).groups())
    assert n == len(rep.validation) and n_in == sum(r["inside"] for r in rep.validation)
    assert f"({n_in / n:.0%})" in line
    assert len(rep.validation) >= 20


def test_every_published_figure_appears_with_its_source_and_conditions(report):
    rep, _ = report
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in rep.markdown.splitlines()
            if line.startswith("| ")}
    for r in rep.calibration + rep.validation:
        f, s = r["figure"], r["source"]
        assert f.id in rows, f.id
        assert s.url in rows[f.id] and f.what in rows[f.id]
        if "verdict" in r:
            assert f.conditions in rows[f.id]
    for hand_typed in ("11.69", "120.29", "13.37", "9.401"):
        assert hand_typed not in rep.markdown


def test_published_data_rejects_an_unknown_source():
    data = {"sources": {"a": {"cite": "c", "url": "u", "tag": "doc"}},
            "figures": [{"id": "f", "source": "b", "runtime": "runc", "experiment": "start", "what": "w",
                         "conditions": "c", "value": 1.0}]}
    with pytest.raises(ValueError, match="unknown source 'b'"):
        parse_published(data)


def test_readme_runtime_table_is_the_generated_one(report):
    rep, _ = report
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text
    section = text.split(TABLE_START, 1)[1].split("\n", 1)[1].split(TABLE_END, 1)[0]
    assert section == runtime_table(rep), "README's runtime table is stale: paste simcontainer.studies.fidelity.runtime_table"


# --------------------------------------------------------------------------- the rest of the report


def test_calibration_point_and_queueing_agree(report):
    rep, _ = report
    f = rep.burst_figure
    assert f.low <= rep.burst["mean_s"] <= f.high
    assert len(rep.queueing) >= 6
    models = {q["model"].split(" (")[0] for q in rep.queueing}
    assert {"Erlang B", "Erlang C", "M/G/1-PS", "M/M/1"} <= models
    for q in rep.queueing:
        assert abs(q["z"]) <= 3, q


def test_pulls_section_has_every_pull_figure(report):
    rep, _ = report
    for f in fid.PULL_FIGURES:
        assert rep.pulls[f.key] == rep.pulls[f.key]          # a number, never NaN
    assert rep.pulls["restore_s"] < rep.pulls["fc_cold_s"] / 10


def test_timing_lines_are_the_only_difference_between_runs(report):
    rep, _ = report
    timing = [line for line in rep.markdown.splitlines() if "wall clock" in line or " s wall" in line]
    assert timing and all(line.startswith(TIMING_PREFIX) for line in timing)


def test_cli_writes_the_report(tmp_path, monkeypatch):
    seen = {}

    def fake_generate(out):
        seen["out"] = Path(out)
        Path(out).write_text("x", encoding="utf-8")
        return fid.Report(markdown="x")

    monkeypatch.setattr(fid, "generate", fake_generate)
    assert main(["fidelity", "--out", str(tmp_path / "f.md")]) == 0
    assert seen["out"] == tmp_path / "f.md"
    assert main(["fidelity", "--out", str(tmp_path / "missing" / "f.md")]) == 2

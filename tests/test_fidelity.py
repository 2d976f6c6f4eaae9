"""The fidelity report regenerates to the committed docs/fidelity.md, and the defaults are honest.

One regeneration (into a temporary folder) serves every test here; it takes some tens of seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import simcontainer as sc
from simcontainer.studies.fidelity import (
    RED,
    STARTUP_FIGURES,
    TIMING_PREFIX,
    generate,
    strip_timings,
)

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "fidelity.md"

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
        import difflib

        diff = "\n".join(list(difflib.unified_diff(old.splitlines(), fresh.splitlines(), "committed",
                                                   "regenerated", lineterm="", n=0))[:40])
        pytest.fail(f"docs/fidelity.md is stale -- run `make fidelity` and commit it:\n{diff}")


def test_plots_are_written_and_embedded(report):
    rep, out = report
    assert len(rep.plots) >= 5
    for p in rep.plots:
        assert p.is_file() and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({p.parent.name}/{p.name})" in rep.markdown
        assert (COMMITTED.parent / p.parent.name / p.name).is_file(), f"plot {p.name} not committed"


def test_every_default_profile_is_inside_its_published_spread_or_flagged(report):
    rep, _ = report
    rows = {r.runtime: r for r in rep.starts}
    assert set(rows) == set(sc.default_catalogue().runtimes), "every default profile gets a row"
    for name, r in rows.items():
        assert r.low is not None and r.high is not None, f"{name}: no published startup figure"
        if r.low <= r.median <= r.high:
            assert not r.flagged
            continue
        # outside: the report must say so in red, in the table and in an explanation naming it
        assert r.flagged, name
        table_row = next(line for line in rep.markdown.splitlines() if line.startswith(f"| {name} | {r.kind} |"))
        assert RED in table_row and "outside" in table_row
        assert any(line.startswith(f"- {RED}outside</span> **{name}**") for line in rep.markdown.splitlines())


def test_published_figures_all_have_sources_and_appear_in_the_report(report):
    rep, _ = report
    from simcontainer.studies.fidelity import MEMORY_FIGURES, PULL_FIGURES, SOURCES

    for f in [*STARTUP_FIGURES, *MEMORY_FIGURES, *PULL_FIGURES]:
        assert f.source in SOURCES
        assert f.what in rep.markdown
    assert all(SOURCES[f.source] in rep.markdown for f in [*STARTUP_FIGURES, *PULL_FIGURES])


def test_pulls_and_warm_starts_section_compares_every_figure(report):
    rep, _ = report
    from simcontainer.studies.fidelity import PULL_FIGURES, pull_verdict

    assert "## 3c. Image pulls and warm starts" in rep.markdown
    for f in PULL_FIGURES:
        assert f.key in rep.pulls and rep.pulls[f.key] == rep.pulls[f.key]   # a number, never NaN
    # the pull figures meet the loose bounds tests/test_pull.py asserts; the restore meets the documented target
    for f in PULL_FIGURES:
        if f.source != "fc-snapshot-ci":
            assert not pull_verdict(f, rep.pulls[f.key]).startswith("<span"), f
    assert rep.pulls["restore_s"] < rep.pulls["fc_cold_s"] / 10


def test_calibration_point_and_queueing_agree(report):
    rep, _ = report
    from simcontainer.studies.fidelity import BURST

    assert BURST["low_s"] <= rep.burst["mean_s"] <= BURST["high_s"]
    assert len(rep.queueing) >= 6
    models = {q["model"].split(" (")[0] for q in rep.queueing}
    assert {"Erlang B", "Erlang C", "M/G/1-PS", "M/M/1"} <= models
    for q in rep.queueing:
        assert abs(q["z"]) <= 3, q


def test_timing_lines_are_the_only_difference_between_runs(report, tmp_path):
    """Determinism of the content: timings are on their own, marked lines."""
    rep, _ = report
    timing = [line for line in rep.markdown.splitlines() if "wall clock" in line or " s wall" in line]
    assert timing and all(line.startswith(TIMING_PREFIX) for line in timing)


def test_cli_writes_the_report(tmp_path, monkeypatch):
    import simcontainer.studies.fidelity as fid
    from simcontainer.faces.cli import main

    seen = {}

    def fake_generate(out):
        seen["out"] = Path(out)
        Path(out).write_text("x", encoding="utf-8")
        return fid.Report("x", [], [], [], {}, {}, [], [])

    monkeypatch.setattr(fid, "generate", fake_generate)
    assert main(["fidelity", "--out", str(tmp_path / "f.md")]) == 0
    assert seen["out"] == tmp_path / "f.md"
    assert main(["fidelity", "--out", str(tmp_path / "missing" / "f.md")]) == 2

"""The README cannot drift: its console samples are today's output, its Python snippets run, and
every ``simcontainer.…`` name it shows resolves as written."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:        # bench/ is a folder of the repository, not of the package
    sys.path.insert(0, str(ROOT))

import simcontainer  # noqa: E402
from bench import readme_samples  # noqa: E402

# the module (the package's `sweep` attribute is the function `sc.sweep`)
sweep_mod = importlib.import_module("simcontainer.studies.sweep")

README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, re.S | re.M)


def test_console_samples_are_todays_output():
    found = readme_samples.samples(README)
    assert len(found) >= 2, "the README's first-run and error samples are no longer found"
    drifted = [s for s in found if s.fresh != s.shown]
    assert not drifted, ("README console samples drifted (run `make readme`):\n"
                         + "\n".join(f"$ {s.command}\n--- README\n{s.shown}--- today\n{s.fresh}" for s in drifted))


def test_the_sample_shaper_keeps_named_columns_and_marks_cuts():
    out = "t\n\na  bb  c\n-  --  -\n1  22  3\n(note)\n"
    shown = "t\n\na  ...  c\n1  ...  3\n"
    assert readme_samples.shape(out, shown) == "t\n\na  ...  c\n-  ---  -\n1  ...  3\n(note)\n"
    assert readme_samples.shape("p1\n\np2\n\np3\n", "p1\n\np2\n") == "p1\n\np2\n"
    # a paragraph of only "..." leaves one out (the wall time of a run, say)
    assert readme_samples.shape("p1\n\n0.03 s\n\np3\n", "p1\n\n...\n\np3\n") == "p1\n\n...\n\np3\n"


def test_every_python_snippet_runs(tmp_path, monkeypatch):
    """The snippets run in README order in one namespace (as a reader types them), from a folder
    that holds the repository's models/ (the paths they name), so nothing lands in the clone.

    The README runs the example sweep twice (the API overview, then the Sweeps section): here the
    two share a result store, so the second resumes from the first instead of running it again."""
    assert len(PYTHON_BLOCKS) >= 2
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    real = sweep_mod.run_sweep
    monkeypatch.setattr(sweep_mod, "run_sweep",
                        lambda spec, out=None, **kw: real(spec, out=out or tmp_path / "store", **kw))
    namespace: dict = {"__name__": "readme"}
    for k, block in enumerate(PYTHON_BLOCKS):
        try:
            exec(compile(block, f"README.md python block {k + 1}", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            pytest.fail(f"README python block {k + 1} fails: {type(exc).__name__}: {exc}\n{block}")


def _inline_code() -> list[str]:
    prose = re.sub(r"^```.*?^```$", "", README, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", prose)


def test_inline_simcontainer_names_resolve_as_written():
    """`simcontainer.x.y()` in the prose names a module and a name in it, as a reader would import
    it (`import simcontainer.x` then `.y`); `from simcontainer.x import y` is run as it stands."""
    names = [c for c in _inline_code() if re.fullmatch(r"simcontainer(\.\w+)+(\(.*\))?", c)]
    imports = [c for c in _inline_code() if re.fullmatch(r"from simcontainer[\w.]* import [\w, ]+", c)]
    assert names, "no simcontainer names found in the prose: the pattern no longer matches"
    bad = []
    for code in names:
        dotted = code.split("(")[0]
        parts = dotted.split(".")
        # import the longest module prefix, as `import simcontainer.studies.fidelity` would
        for k in range(len(parts), 0, -1):
            try:
                importlib.import_module(".".join(parts[:k]))
                break
            except ImportError:
                continue
        obj = simcontainer
        for part in parts[1:]:
            if not hasattr(obj, part):
                bad.append(f"`{code}`: {part!r} is not an attribute of {getattr(obj, '__name__', obj)!r}")
                break
            obj = getattr(obj, part)
    for code in imports:
        try:
            exec(code, {})  # noqa: S102
        except ImportError as exc:
            bad.append(f"`{code}`: {exc}")
    assert not bad, "README names that do not resolve:\n" + "\n".join(bad)

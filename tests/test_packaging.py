"""The package as a user installs it: build the wheel, install it into a fresh virtual environment
with its app extra (at the versions of requirements-app.lock), and use the installed command away
from the clone: `simcontainer run` on a packaged example scenario, `simcontainer app`, `python -m
simcontainer`, the catalogue listings. Also the quick command line (issue 16): what each command
imports, and the lazy package names.

The fresh environment is made with uv when it is there (on PATH, or where `make` put it in
.venv-bootstrap/: a few seconds from uv's cache); otherwise with venv and pip (a minute or two).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP_LOCK = ROOT / "requirements-app.lock"

HEAVY = ("pandas", "pyarrow", "dask", "distributed", "streamlit", "networkx", "matplotlib")
slow_group = [pytest.mark.slow, pytest.mark.xdist_group("packaging")]


def _uv() -> str | None:
    if os.environ.get("UV") == "none":
        return None
    found = shutil.which("uv")
    boot = ROOT / ".venv-bootstrap" / "bin" / "uv"
    return found or (str(boot) if boot.exists() else None)


def _clean_env() -> dict[str, str]:
    """The environment of a user's shell: nothing pointing at this clone's code or venv."""
    # PYTHONDONTWRITEBYTECODE goes too: uv installs no .pyc files, and the commands below would
    # compile numpy, pydantic and Streamlit afresh in every process
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "SIMCONTAINER_MODELS",
                         "PYTHONDONTWRITEBYTECODE")}


def _run(cmd: list[str], cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=timeout, **kw)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built by the project's build backend (hatchling) as `pip wheel .` would."""
    out = tmp_path_factory.mktemp("dist")
    code = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    name = _run([sys.executable, "-c", code, str(out)], cwd=ROOT).stdout.strip().splitlines()[-1]
    return out / name


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel and its app extra, nothing else."""
    where = tmp_path_factory.mktemp("venv") / "env"
    py = where / "bin" / "python"
    uv = _uv()
    if uv:
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(where)], cwd=where.parent)
        # the wheel's own dependency list, resolved within the lock's pins
        _run([uv, "pip", "install", "--quiet", "--python", str(py),
              f"simcontainer[app] @ {wheel.as_uri()}", "-c", str(APP_LOCK)], cwd=where.parent)
    else:
        _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent)
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run(pip + ["--require-hashes", "-r", str(APP_LOCK)], cwd=where.parent, timeout=900)
        _run(pip + ["--no-deps", str(wheel)], cwd=where.parent)
        _run([str(py), "-m", "pip", "check"], cwd=where.parent)   # the wheel's dependencies are all there
    return where


@pytest.mark.slow
@pytest.mark.xdist_group("packaging")
def test_the_wheel_carries_the_models_and_the_app(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("simcontainer/_models/scenarios/default.toml", "simcontainer/_models/images.toml",
                   "simcontainer/_models/hosts.toml", "simcontainer/faces/_launch/streamlit_app.py",
                   "simcontainer/faces/ui/app.py", "simcontainer/__main__.py"):
        assert needed in names, needed
    assert any(n.startswith("simcontainer/_models/runtimes/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "simcontainer = simcontainer.faces.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
@pytest.mark.xdist_group("packaging")
def test_installed_command_runs_a_packaged_scenario(venv, tmp_path):
    py, cmd = venv / "bin" / "python", venv / "bin" / "simcontainer"
    models = _run([str(py), "-c", "from simcontainer.scenario.profiles import models_dir; print(models_dir())"],
                  cwd=tmp_path).stdout.strip()
    assert Path(models).is_relative_to(venv), f"models come from {models}, not from the installed package"
    scenario = Path(models) / "scenarios" / "default.toml"
    out = _run([str(cmd), "run", str(scenario)], cwd=tmp_path).stdout
    assert out.startswith("default (seed 7")
    summary = json.loads(_run([str(cmd), "run", str(scenario), "--json"], cwd=tmp_path).stdout)
    assert summary["workloads"]["api-runc"]["started"] == 20
    assert _run([str(cmd), "check", str(scenario)], cwd=tmp_path).stdout.startswith("ok: default")
    images = json.loads(_run([str(cmd), "images", "--json"], cwd=tmp_path).stdout)
    assert {"name": "python:3.12-slim", "base": "debian:12-slim"}.items() <= next(
        i for i in images if i["name"] == "python:3.12-slim").items()
    hosts = json.loads(_run([str(cmd), "hosts", "--json"], cwd=tmp_path).stdout)
    assert "server-64g" in hosts


@pytest.mark.slow
@pytest.mark.xdist_group("packaging")
def test_app_help_and_python_dash_m(venv, tmp_path):
    py, cmd = venv / "bin" / "python", venv / "bin" / "simcontainer"
    assert "--port" in _run([str(cmd), "app", "--help"], cwd=tmp_path).stdout
    out = _run([str(py), "-m", "simcontainer", "--help"], cwd=tmp_path).stdout
    assert "usage: simcontainer" in out and "app" in out
    assert "--port" in _run([str(py), "-m", "simcontainer", "app", "--help"], cwd=tmp_path).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.xdist_group("packaging")
def test_installed_app_serves(venv, tmp_path):
    """`simcontainer app --port N` from the installed package answers on that port."""
    port = _free_port()
    proc = subprocess.Popen([str(venv / "bin" / "simcontainer"), "app", "--port", str(port),
                             "--address", "127.0.0.1"], cwd=tmp_path, env=_clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"the app exited {proc.returncode}:\n{proc.stdout.read()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the app did not answer within 90 s"
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


# --------------------------------------------------------------------------- the quick command line


def _imported(code: str) -> set[str]:
    """Top-level packages of HEAVY that a fresh interpreter has imported after running code."""
    probe = code + "\nimport sys\nprint(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip().splitlines()[-1]
    return set(out.split(",")) & set(HEAVY)


@pytest.mark.parametrize("argv", [["check", "models/scenarios/default.toml"],
                                  ["run", "models/scenarios/default.toml"],
                                  ["images"], ["hosts", "--json"], ["app", "--help"]])
def test_commands_import_no_heavy_library(argv):
    code = ("import contextlib, io, sys\nfrom simcontainer.faces.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    assert _imported(code) == set()


def test_import_simcontainer_is_lazy():
    assert _imported("import simcontainer") == set()
    assert "pandas" in _imported("import simcontainer as sc\nsc.simulate(sc.load_scenario("
                                 "'models/scenarios/default.toml')).events")


def test_every_exported_name_resolves_and_sweep_density_are_functions():
    import importlib

    import simcontainer as sc

    for name in sc.__all__:
        assert getattr(sc, name) is not None, name
        assert name in dir(sc)
    importlib.import_module("simcontainer.studies.sweep")
    importlib.import_module("simcontainer.studies.density")
    assert callable(sc.sweep) and sc.sweep.__module__ == "simcontainer.studies.sweep"
    assert callable(sc.density) and sc.density.__module__ == "simcontainer.studies.density"
    from simcontainer.studies import (  # the modules: no longer the package's attributes
        density,
        sweep,
    )
    assert (density.density, sweep.sweep) == (sc.density, sc.sweep)
    assert sc.studies.density is density and sc.studies.sweep is sweep
    with pytest.raises(AttributeError):
        sc.no_such_name  # noqa: B018


def test_images_and_hosts_list_the_catalogue(capsys):
    from simcontainer.faces.cli import main

    assert main(["images", "--json"]) == 0
    images = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    assert images["shop-api:1.4"]["base"] == "python:3.12-slim" and images["shop-api:1.4"]["layers"] == 3
    assert images["ubuntu-24.04-cloud"]["kind"] == "vm" and images["ubuntu-24.04-cloud"]["layers"] == 0
    assert main(["images"]) == 0
    assert "python:3.12-slim" in capsys.readouterr().out
    assert main(["hosts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["laptop"]["cpu_cores"] == 8
    assert main(["hosts"]) == 0
    assert "server-64g" in capsys.readouterr().out


def test_app_command_line(monkeypatch, capsys, tmp_path):
    from simcontainer.faces import cli

    argv = cli.streamlit_command(8600, "127.0.0.1")
    assert argv[1:4] == ["-m", "streamlit", "run"] and Path(argv[4]).name == "streamlit_app.py"
    assert Path(argv[4]).exists()
    assert argv[argv.index("--server.port") + 1] == "8600"
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    with pytest.raises(SystemExit):
        cli.main(["app", "--port", "70000"])
    assert "not a port" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration_s = -1\n')
    assert cli.main(["app", str(bad)]) == 2          # checked before Streamlit starts
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    assert cli.main(["app"]) == 1
    assert "simcontainer[app]" in capsys.readouterr().err


# --------------------------------------------------------------------------- bytecode at install


def _warm_bytecode_commands() -> list[str]:
    """The commands `make app` runs after installing to write the bytecode (from `make -n`)."""
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "-n", "-B", f"VENV={venv}", f"{venv}/.app-stamp"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith("PYTHONDONTWRITEBYTECODE= ")]


def _pycs(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.pyc")}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_app_writes_the_bytecode_the_first_commands_need(tmp_path):
    """After `make app`'s install step, the first `check` and the first one-instance `run` compile
    nothing: every module they import has its bytecode already (here written to a cache folder of
    the test's own, PYTHONPYCACHEPREFIX, so that the clone and the venv stay as they are)."""
    commands = _warm_bytecode_commands()
    assert any("compileall" in c for c in commands) and any(" check " in c for c in commands)
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for command in commands:
        if "import streamlit" in command:   # the app's libraries: not what check and run import
            continue
        subprocess.run(command, shell=True, cwd=ROOT, env=env, check=True, timeout=300)
    written = _pycs(tmp_path / "pyc")
    assert any(p.endswith(os.path.join("simcontainer", "engine", f"core.{sys.implementation.cache_tag}.pyc"))
               for p in written)
    tiny = tmp_path / "one.toml"
    tiny.write_text('name = "one"\nduration_s = 60.0\nhost = "server-64g"\n[[workloads]]\nname = "web"\n'
                    'runtime = "runc"\nimage = "python:3.12-slim"\nmem_mib = 128\n'
                    'arrival = { kind = "burst", count = 1 }\nlifetime = { kind = "forever" }\n')
    exe = Path(sys.executable).parent / "simcontainer"
    for argv in ([str(exe), "check", "models/scenarios/default.toml"], [str(exe), "run", str(tiny)]):
        subprocess.run(argv, cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    new = _pycs(tmp_path / "pyc") - written
    assert not new, f"the first commands still compiled {len(new)} modules, e.g. {sorted(new)[:5]}"

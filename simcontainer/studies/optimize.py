"""SLO search: the cheapest set-up that still meets the SLOs, on Optuna.

    from simcontainer.studies.optimize import load_optimize, run_optimize
    spec = load_optimize("models/sweeps/optimize-example.toml")   # validated before any run
    res = run_optimize(spec, out="opt.out")                        # resumable: finished trials stay
    res.best, res.pareto, res.trials

A trial is one configuration (a value per knob of ``[space]``, written like sweep axes), run for
``replications`` seeds -- the sweep's seeds, shared by every trial (common random numbers). Each
constraint is judged on a one-sided confidence bound of its figure's mean over those seeds, not
on one seed: ``max`` holds when the upper bound is below it, ``min`` when the lower bound is
above it. Objectives are minimised (or maximised): the built-in ``hosts``, ``reserved_gib`` and
``cost_per_hour`` come from the configuration itself; any result figure is its mean.

The study lives in the output folder as Optuna's journal (``study.journal``): a rerun continues
it, so Ctrl-C loses no finished trial and repeats none. Trials are asked ``parallel_trials`` at a
time with the sampler re-seeded from (seed, trials finished), so the study does not depend on how
many workers ran it, and the same file and seed give the same study.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import dumps_scenario, parse_scenario
from simcontainer.scenario.outputs import write_atomic
from simcontainer.scenario.schema import Scenario
from simcontainer.studies.study_runner import Runner
from simcontainer.studies.sweep import BatchResult, Item
from simcontainer.studies.sweep_design import Axis, apply, canonical_json, parse_sweep, run_key
from simcontainer.studies.sweep_store import ERROR_COLUMN, Metrics, t_quantile

OPT_KEYS = ("base", "trials", "replications", "seed", "sampler", "parallel_trials", "startup_trials",
            "population", "confidence", "space", "objectives", "constraints", "cost")
SAMPLERS = ("tpe", "nsga2", "random")
DIRECTIONS = ("minimize", "maximize")
BUILTIN = ("hosts", "reserved_gib", "cost_per_hour")   # figures of the configuration, not of a run
COST_KEYS = ("per_host_hour", "per_gib_hour")
BOUND_KEYS = ("max", "min")
STUDY_NAME = "simcontainer-optimize"
JOURNAL = "study.journal"
TRIALS_FILE, PARETO_FILE, BEST_FILE = "trials.parquet", "pareto.parquet", "best.toml"
_ATTR = "simcontainer"          # user attribute holding a trial's figures
_INTERRUPTED = "interrupted"    # study attribute: the trials a Ctrl-C cut off (their params run again)

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class Objective:
    name: str                 # a built-in (hosts, reserved_gib, cost_per_hour) or a result figure
    direction: str            # minimize | maximize


@dataclass(frozen=True)
class Constraint:
    metric: str               # a result figure, dotted as in runs.parquet
    max: float | None = None
    min: float | None = None

    def violation(self, bound: float) -> float:
        """How far the confidence bound is on the wrong side (<= 0: met). NaN bound: not met."""
        if math.isnan(bound):
            return math.inf
        return bound - self.max if self.max is not None else self.min - bound  # type: ignore[operator]


@dataclass(frozen=True)
class OptimizeSpec:
    """A validated optimize file."""

    base: Scenario
    knobs: tuple[Axis, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    per_host_hour: float
    per_gib_hour: float
    trials: int
    replications: int
    seed: int
    seeds: tuple[int, ...]
    sampler: str
    parallel_trials: int
    startup_trials: int
    population: int
    confidence: float
    source: Path | None = field(default=None, compare=False)

    def fingerprint(self) -> str:
        """What a stored study must match to be continued (not the budget: more trials is fine)."""
        return canonical_json({
            "base": self.base.to_dict(), "knobs": [_axis_data(a) for a in self.knobs],
            "objectives": [[o.name, o.direction] for o in self.objectives],
            "constraints": [[c.metric, c.max, c.min] for c in self.constraints],
            "cost": [self.per_host_hour, self.per_gib_hour], "seeds": list(self.seeds),
            "sampler": [self.sampler, self.parallel_trials, self.startup_trials, self.population, self.seed],
            "confidence": self.confidence})


def _axis_data(a: Axis) -> Any:
    return {"path": a.path, "values": list(a.values) if a.values is not None else None,
            "low": a.low, "high": a.high, "log": a.log}


def load_optimize(path: str | Path, seed: int | None = None) -> OptimizeSpec:
    """Read and validate an optimize file (``base`` relative to it); ``seed`` replaces the file's.
    Raises :class:`ScenarioError`."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"cannot read file: {getattr(exc, 'strerror', None) or exc}"], source=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"malformed TOML: {exc}"], source=str(p)) from None
    if seed is not None and isinstance(data, dict):
        data["seed"] = seed
    return parse_optimize(data, base_dir=p.resolve().parent, source=str(p), _path=p)


def parse_optimize(data: dict[str, Any], base_dir: str | Path | None = None,
                   base_scenario: Scenario | None = None, *, source: str = "optimize",
                   _path: Path | None = None) -> OptimizeSpec:
    """Validate optimize data: the knobs as sweep axes (each value tried on the base), the
    objectives, the constraints, the budget. Every problem is listed, each naming its field."""
    if not isinstance(data, dict):
        raise ScenarioError([f"expected a table of settings, got {type(data).__name__}"], source=source)
    problems = [f"{k}: unknown key (allowed: {', '.join(OPT_KEYS)})" for k in data if k not in OPT_KEYS]
    trials = _int(data, "trials", 40, 1, problems)
    reps = _int(data, "replications", 3, 1, problems)
    parallel = _int(data, "parallel_trials", 4, 1, problems)
    startup = _int(data, "startup_trials", 8, 0, problems)
    population = _int(data, "population", 16, 2, problems)
    seed = data.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        problems.append(f"seed: got {seed!r} (allowed: an integer in [0, 2**63))")
    sampler = data.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        problems.append(f"sampler: got {sampler!r} (allowed: {', '.join(SAMPLERS)})")
    confidence = data.get("confidence", 0.95)
    if not isinstance(confidence, float | int) or isinstance(confidence, bool) or not 0.5 <= confidence < 1:
        problems.append(f"confidence: got {confidence!r} (allowed: a number in [0.5, 1), e.g. 0.95)")
    per_host, per_gib = _cost(data.get("cost", {}), problems)
    objectives = _objectives(data.get("objectives"), per_host, per_gib, problems)
    constraints = _constraints(data.get("constraints", {}), problems)
    if constraints and _is_int(reps) and reps < 2:
        problems.append(f"replications: got {reps} (allowed: an integer >= 2 when there are constraints: "
                        "each is judged on a confidence bound over the replications)")
    space = data.get("space")
    if not isinstance(space, dict) or not space:
        problems.append(f"space: got {space!r} (allowed: a table of 'dotted.path' = values or "
                        "{ low, high, log }, as a sweep file's axes)")
    if problems:
        raise ScenarioError(problems, source=source)
    # The knobs are a sweep's axes: the sweep parser checks every path and value on the base.
    sweep_data = {"mode": "random", "samples": 1, "replications": reps, "axes": space}
    if base_scenario is None:
        sweep_data["base"] = data.get("base")
    if seed is not None:
        sweep_data["seed"] = seed
    try:
        sw = parse_sweep(sweep_data, base_dir=base_dir, base_scenario=base_scenario, source=source)
    except ScenarioError as exc:
        raise ScenarioError([_space_words(q) for q in exc.problems], source=source) from None
    return OptimizeSpec(base=sw.base, knobs=sw.axes, objectives=tuple(objectives),
                        constraints=tuple(constraints), per_host_hour=per_host, per_gib_hour=per_gib,
                        trials=trials, replications=reps, seed=sw.seed, seeds=sw.seeds, sampler=sampler,
                        parallel_trials=parallel, startup_trials=startup, population=population,
                        confidence=float(confidence), source=_path)


def _space_words(problem: str) -> str:
    """The sweep parser says ``axes.``; here the table is ``space``."""
    if problem.startswith("axes"):
        problem = "space" + problem[4:]
    return problem.replace("num: only for mode = 'grid' (allowed: low, high, log)",
                           "num: not for a search space (allowed: low, high, log)")


def _int(data: dict[str, Any], key: str, default: int, low: int, problems: list[str]) -> int:
    v = data.get(key, default)
    if not _is_int(v) or v < low:
        problems.append(f"{key}: got {v!r} (allowed: an integer >= {low})")
        return default
    return int(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _cost(raw: Any, problems: list[str]) -> tuple[float, float]:
    if not isinstance(raw, dict):
        problems.append(f"cost: got {raw!r} (allowed: a table with {', '.join(COST_KEYS)})")
        return 0.0, 0.0
    for k in raw:
        if k not in COST_KEYS:
            problems.append(f"cost.{k}: unknown key (allowed: {', '.join(COST_KEYS)})")
    out = []
    for k in COST_KEYS:
        v = raw.get(k, 0.0)
        if not _number(v) or v < 0:
            problems.append(f"cost.{k}: got {v!r} (allowed: a number >= 0, a price per hour)")
            v = 0.0
        out.append(float(v))
    return out[0], out[1]


def _objectives(raw: Any, per_host: float, per_gib: float, problems: list[str]) -> list[Objective]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"objectives: got {raw!r} (allowed: a table such as hosts = \"minimize\"; "
                        f"names: {', '.join(BUILTIN)} or a result figure like 'workloads.api.startup_s.p95')")
        return []
    out = []
    for name, direction in raw.items():
        if direction not in DIRECTIONS:
            problems.append(f"objectives.{name}: got {direction!r} (allowed: {', '.join(DIRECTIONS)})")
            continue
        if name == "cost_per_hour" and per_host == 0 and per_gib == 0:
            problems.append("objectives.cost_per_hour: no prices (allowed: set cost.per_host_hour and/or "
                            "cost.per_gib_hour)")
        out.append(Objective(str(name), direction))
    return out


def _constraints(raw: Any, problems: list[str]) -> list[Constraint]:
    if not isinstance(raw, dict):
        problems.append(f"constraints: got {raw!r} (allowed: a table 'result.figure' = {{ max = N }} "
                        "or {{ min = N }})")
        return []
    out = []
    for metric, bound in raw.items():
        where = f"constraints.{metric}"
        if not isinstance(bound, dict) or len(bound) != 1 or next(iter(bound)) not in BOUND_KEYS:
            problems.append(f"{where}: got {bound!r} (allowed: {{ max = N }} or {{ min = N }})")
            continue
        (kind, value), = bound.items()
        if not _number(value):
            problems.append(f"{where}.{kind}: got {value!r} (allowed: a finite number)")
            continue
        out.append(Constraint(str(metric), **{kind: float(value)}))
    return out


# --------------------------------------------------------------------------- one trial


def configuration(spec: OptimizeSpec, params: dict[str, Any]) -> Scenario:
    """The base scenario with a trial's knob values set. Raises :class:`ScenarioError`."""
    return point_scenario(spec.base, params, "trial (" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")")


def point_scenario(base: Scenario, point: dict[str, Any], where: str) -> Scenario:
    """``base`` with every dotted path of ``point`` set, validated; problems start with ``where``."""
    try:
        data = apply(base.to_dict(), point)
    except KeyError as exc:
        raise ScenarioError([f"{where}: {exc.args[0]}"]) from None
    try:
        return parse_scenario(data, base_dir=base.base_dir, source=where)
    except ScenarioError as exc:
        raise ScenarioError([f"{where}: {q}" for q in exc.problems]) from None


def builtin_figures(spec: OptimizeSpec, scenario: Scenario) -> dict[str, float]:
    """Figures of the configuration itself: hosts, their RAM, and what they cost an hour."""
    hosts = float(scenario.host.count)
    gib = hosts * scenario.host.ram_mib / 1024.0
    return {"hosts": hosts, "reserved_gib": gib,
            "cost_per_hour": hosts * spec.per_host_hour + gib * spec.per_gib_hour}


def judge(spec: OptimizeSpec, scenario: Scenario, runs: Sequence[Metrics]) -> dict[str, Any]:
    """A trial's figures from its runs: objective values, each constraint's mean and bound.

    The bound is one-sided Student t at ``confidence`` over the replications; a figure missing
    from any replication (a startup percentile where nothing started) fails its constraint.
    """
    errors = [m[ERROR_COLUMN] for m in runs if ERROR_COLUMN in m]
    if errors:
        return {"error": str(errors[0])}
    built = builtin_figures(spec, scenario)
    values, means = [], {}
    for o in spec.objectives:
        v = built[o.name] if o.name in built else _mean([m.get(o.name, math.nan) for m in runs])
        values.append(v)
        means[o.name] = v
    bounds, violations = {}, {}
    for c in spec.constraints:
        xs = [float(m.get(c.metric, math.nan)) for m in runs]
        mean = _mean(xs)
        bound = _bound(xs, spec.confidence, upper=c.max is not None)
        means[c.metric], bounds[c.metric] = mean, bound
        violations[c.metric] = min(c.violation(bound), 1e300)   # finite: Optuna refuses inf and NaN
    feasible = all(v <= 0 for v in violations.values())
    if any(math.isnan(v) for v in values):
        return {"error": "an objective's figure is missing (nothing started?): "
                + ", ".join(o.name for o, v in zip(spec.objectives, values) if math.isnan(v))}
    return {"values": values, "means": means, "bounds": bounds,
            "violations": violations, "feasible": feasible}


def _mean(xs: Sequence[float]) -> float:
    arr = np.asarray(xs, dtype="float64")
    return math.nan if arr.size == 0 or np.isnan(arr).any() else float(arr.mean())


def _bound(xs: Sequence[float], confidence: float, upper: bool) -> float:
    arr = np.asarray(xs, dtype="float64")
    if arr.size == 0 or np.isnan(arr).any():
        return math.nan
    if arr.size == 1:
        return float(arr[0])
    half = t_quantile(confidence, arr.size - 1) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return float(arr.mean() + half if upper else arr.mean() - half)


# --------------------------------------------------------------------------- the study


def _optuna() -> Any:
    import optuna  # noqa: PLC0415 - heavy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(spec: OptimizeSpec, finished: int) -> Any:
    """The sampler for the next batch, seeded from (seed, trials finished): the study is a
    function of the file and its history, whoever ran which trial and whenever it resumed."""
    optuna = _optuna()
    seed = int(np.random.SeedSequence([spec.seed, finished, 0x0971]).generate_state(1)[0])
    # multivariate TPE is marked experimental (stable in use since Optuna 2.2): no warning per batch
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=spec.population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials, multivariate=True,
                                      constant_liar=True)


def suggest(trial: Any, axis: Axis) -> Any:
    """A knob's value for a trial: categorical for a list, int or float (log) for a range."""
    if axis.values is not None:
        if _scalar_values(axis):
            return trial.suggest_categorical(axis.path, list(axis.values))
        labels = [canonical_json(v) for v in axis.values]   # tables and lists travel as JSON text
        return json.loads(trial.suggest_categorical(axis.path, labels))
    if axis.integer:
        return trial.suggest_int(axis.path, int(axis.low), int(axis.high), log=axis.log)  # type: ignore[arg-type]
    return trial.suggest_float(axis.path, float(axis.low), float(axis.high), log=axis.log)  # type: ignore[arg-type]


def _scalar_values(axis: Axis) -> bool:
    """A list Optuna takes as it is (numbers, text, true/false); else its values travel as JSON."""
    return all(isinstance(v, bool | int | float | str) for v in axis.values or ())


@lru_cache(maxsize=1)
def _unsynced_backend() -> Any:
    """Optuna's file journal, appending each record without ``os.fsync``: a finished trial is in
    the file as soon as it is told, which is what a Ctrl-C or a killed process needs (the kernel
    keeps what was written); only a power cut could lose the last records, and a rerun then makes
    those trials again. An fsync per record (~6 per trial) cost ~35 ms a trial here, as much as
    the runs of a small trial. Optuna's own backend when its internals are not the expected ones."""
    from optuna.storages.journal import JournalFileBackend  # noqa: PLC0415 - heavy

    try:
        from optuna.storages.journal._file import get_lock_file  # noqa: PLC0415 - heavy
    except ImportError:
        return JournalFileBackend

    class UnsyncedJournalFileBackend(JournalFileBackend):
        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
            with get_lock_file(self._lock), open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))

    return UnsyncedJournalFileBackend


def journal_backend(path: Path) -> Any:
    """The study's journal file (Optuna's format: ``optuna.storages.journal.JournalFileBackend``
    reads it)."""
    backend = _unsynced_backend()(str(path))
    if not (hasattr(backend, "_lock") and hasattr(backend, "_file_path")):
        from optuna.storages.journal import JournalFileBackend  # noqa: PLC0415 - heavy

        return JournalFileBackend(str(path))
    return backend


def open_study(spec: OptimizeSpec, out: str | Path | None) -> Any:
    """The study of ``out`` (created, or continued when it is this file's), or one in memory."""
    optuna = _optuna()
    if out is None:
        storage: Any = optuna.storages.InMemoryStorage()
    else:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(journal_backend(folder / JOURNAL))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True,
                                directions=[o.direction for o in spec.objectives],
                                sampler=make_sampler(spec, 0))
    stored = study.user_attrs.get("spec")
    if stored is None:
        study.set_user_attr("spec", spec.fingerprint())
    elif stored != spec.fingerprint():
        raise ScenarioError([f"--out: {str(out)!r} holds a study of another optimize file or base scenario "
                             "(allowed: a fresh folder, or the same file to continue its study)"],
                            source="command line")
    return study


def recover(study: Any) -> int:
    """Trials a Ctrl-C cut off: marked failed, listed as interrupted (they do not count), and their
    configurations queued to run first. A finished trial is never run again. Returns how many."""
    optuna = _optuna()
    cut = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if not cut:
        return 0
    study.set_user_attr(_INTERRUPTED, sorted({*study.user_attrs.get(_INTERRUPTED, []), *(t.number for t in cut)}))
    for t in cut:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(t.params)
    return len(cut)


def finished_trials(study: Any) -> list[Any]:
    """Trials that count towards the budget: complete, or failed by their own runs."""
    optuna = _optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    cut = set(study.user_attrs.get(_INTERRUPTED, []))
    return [t for t in study.get_trials(deepcopy=False, states=states) if t.number not in cut]


# --------------------------------------------------------------------------- running a study


@dataclass
class OptimizeResult:
    """A study's tables, its best configuration, and what this call did."""

    spec: OptimizeSpec
    trials: pd.DataFrame        # one row per trial (see trials_table)
    pareto: pd.DataFrame        # the feasible trials no other feasible trial beats on every objective
    best: Scenario | None       # the best feasible configuration, ready to run (None: none feasible)
    best_trial: int | None
    out: Path | None
    computed: int               # trials run by this call
    reused: int                 # trials found finished in the study
    runs: int                   # simulations made by this call
    wall_s: float

    @property
    def rate(self) -> float:
        """Simulations per second of this call."""
        return self.runs / self.wall_s if self.wall_s > 0 else math.nan


def run_optimize(spec: OptimizeSpec, out: str | Path | None = None, trials: int | None = None,
                 workers: int | None = None, scheduler: Any = None,
                 progress: Progress | None = None) -> OptimizeResult:
    """Run the study of ``spec`` until ``trials`` trials (default: the file's) are finished.

    ``out`` keeps the study (Optuna journal) and the tables; a rerun continues it. ``workers``:
    local processes (1 runs in this process); ``scheduler``: a Dask address or ``Client``.
    """
    if trials is not None and (not _is_int(trials) or trials < 1):
        raise ScenarioError([f"--trials: got {trials!r} (allowed: an integer >= 1)"], source="command line")
    start = time.perf_counter()
    target = trials or spec.trials
    study = open_study(spec, out)
    recover(study)
    reused = len(finished_trials(study))
    runner = Runner(workers, scheduler)
    counts = {"trials": 0, "runs": 0}
    cache: dict[str, Metrics] = {}   # a configuration proposed again is judged without running again
    try:
        while (done := len(finished_trials(study))) < target:
            if progress is not None:
                progress(done, target)
            study.sampler = make_sampler(spec, done)
            batch = []
            for _ in range(min(spec.parallel_trials, target - done)):
                t = study.ask()
                batch.append((t, {a.path: suggest(t, a) for a in spec.knobs}))
            _evaluate(spec, study, batch, runner, counts, cache)
        if progress is not None:
            progress(len(finished_trials(study)), target)
    except BaseException:
        # a pool half torn down by Ctrl-C may fail to close: the interrupt is what counts
        with contextlib.suppress(Exception):
            runner.close(now=True)
        raise
    runner.close()
    res = collect(spec, study, out)
    return OptimizeResult(spec, res[0], res[1], res[2], res[3], Path(out) if out is not None else None,
                          counts["trials"], reused, counts["runs"], time.perf_counter() - start)


def _evaluate(spec: OptimizeSpec, study: Any, batch: list[tuple[Any, dict[str, Any]]], runner: Runner,
              counts: dict[str, int], results: dict[str, Metrics]) -> None:
    """Run every replication of a batch of trials; each trial is told as soon as its runs are in,
    so an interruption loses at most the trials still running."""
    optuna = _optuna()
    waiting: dict[int, tuple[Any, Scenario, list[str]]] = {}
    items: dict[str, Item] = {}
    for t, params in batch:
        try:
            scenario = configuration(spec, params)
        except ScenarioError as exc:
            t.set_user_attr(_ATTR, {"error": "; ".join(exc.problems)})
            study.tell(t, state=optuna.trial.TrialState.FAIL)
            counts["trials"] += 1
            continue
        d = scenario.to_dict()
        keys = [run_key(d, s) for s in spec.seeds]
        for k, s in zip(keys, spec.seeds):
            if k not in results:
                items.setdefault(k, (k, scenario, s))
        waiting[t.number] = (t, scenario, keys)

    def on_batch(done: BatchResult) -> None:
        for key, metrics in done:
            results[key] = metrics
        counts["runs"] += len(done)
        for number, (t, scenario, keys) in list(waiting.items()):
            if all(k in results for k in keys):
                _tell(study, t, judge(spec, scenario, [results[k] for k in keys]))
                counts["trials"] += 1
                del waiting[number]

    on_batch([])   # trials whose runs were all made before
    runner.run(list(items.values()), on_batch)


def _tell(study: Any, trial: Any, figures: dict[str, Any]) -> None:
    optuna = _optuna()
    trial.set_user_attr(_ATTR, figures)
    if "error" in figures:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        # Optuna's samplers prefer trials whose constraint values are all <= 0
        for metric, v in figures["violations"].items():
            trial.set_constraint(metric, v)
        study.tell(trial, figures["values"])


# --------------------------------------------------------------------------- tables and files


def trials_table(spec: OptimizeSpec, study: Any) -> pd.DataFrame:
    """One row per finished trial: ``trial``, ``state``, a column per knob, ``objective.NAME``,
    ``mean.FIGURE`` and ``bound.FIGURE`` per constraint, ``feasible``, ``error``."""
    rows = []
    for t in finished_trials(study):
        fig = t.user_attrs.get(_ATTR, {})
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name.lower()}
        for a in spec.knobs:
            v = t.params.get(a.path)
            # a list of tables was suggested as their JSON text: that text is already the column
            row[a.path] = v if a.values is not None and not _scalar_values(a) else a.column(v)
        for i, o in enumerate(spec.objectives):
            row[f"objective.{o.name}"] = fig["values"][i] if "values" in fig else math.nan
        for c in spec.constraints:
            row[f"mean.{c.metric}"] = fig.get("means", {}).get(c.metric, math.nan)
            row[f"bound.{c.metric}"] = fig.get("bounds", {}).get(c.metric, math.nan)
        row["feasible"] = bool(fig.get("feasible", False))
        row["error"] = fig.get("error")
        rows.append(row)
    cols = ["trial", "state", *[a.path for a in spec.knobs], *[f"objective.{o.name}" for o in spec.objectives],
            *[f"{p}.{c.metric}" for c in spec.constraints for p in ("mean", "bound")], "feasible", "error"]
    df = pd.DataFrame(rows, columns=cols)
    df["trial"] = df["trial"].astype("int64")
    df["feasible"] = df["feasible"].astype(bool)
    return df.sort_values("trial", kind="stable").reset_index(drop=True)


def pareto_front(spec: OptimizeSpec, trials: pd.DataFrame) -> pd.DataFrame:
    """The feasible trials that no other feasible trial matches or beats on every objective and
    beats on one; one row per configuration, ordered by the objectives in the file's order."""
    cols = [f"objective.{o.name}" for o in spec.objectives]
    ok = trials[trials["feasible"] & trials[cols].notna().all(axis=1)]
    ok = ok.drop_duplicates(subset=[a.path for a in spec.knobs], keep="first")
    sign = np.array([1.0 if o.direction == "minimize" else -1.0 for o in spec.objectives])
    vals = ok[cols].to_numpy(dtype="float64") * sign
    keep = [not any((vals[j] <= vals[i]).all() and (vals[j] < vals[i]).any() for j in range(len(vals)))
            for i in range(len(vals))]
    front = ok[np.array(keep, dtype=bool)] if len(ok) else ok
    order = pd.DataFrame(front[cols].to_numpy(dtype="float64") * sign, index=front.index, columns=cols)
    order["trial"] = front["trial"]
    return front.loc[order.sort_values([*cols, "trial"], kind="stable").index].reset_index(drop=True)


def params_of(spec: OptimizeSpec, row: pd.Series) -> dict[str, Any]:
    """A trial row's knob values, as the scenario takes them (tables and lists back from JSON)."""
    out = {}
    for a in spec.knobs:
        v = row[a.path]
        if isinstance(v, np.generic):
            v = v.item()
        if a.values is not None and not _scalar_values(a):
            v = json.loads(v)
        elif a.integer:
            v = int(v)
        out[a.path] = v
    return out


def collect(spec: OptimizeSpec, study: Any, out: str | Path | None
            ) -> tuple[pd.DataFrame, pd.DataFrame, Scenario | None, int | None]:
    """The tables and the best configuration; written to ``out`` (each file replaced whole)."""
    trials = trials_table(spec, study)
    front = pareto_front(spec, trials)
    trials["pareto"] = trials["trial"].isin(front["trial"])
    best = configuration(spec, params_of(spec, front.iloc[0])) if len(front) else None
    best_trial = int(front["trial"].iloc[0]) if len(front) else None
    if out is not None:
        folder = Path(out)
        _write_parquet(trials, folder / TRIALS_FILE)
        _write_parquet(front, folder / PARETO_FILE)
        if best is not None:
            _write_text(folder / BEST_FILE, best_toml(spec, best, front.iloc[0]))
        elif (folder / BEST_FILE).exists():
            (folder / BEST_FILE).unlink()
    return trials, front, best, best_trial


def best_toml(spec: OptimizeSpec, scenario: Scenario, row: pd.Series) -> str:
    """The configuration as a scenario file, headed by what it achieved."""
    lines = [f"# Best configuration of an optimize study: trial {int(row['trial'])}."]
    lines += [f"#   {o.name} ({o.direction}): {row[f'objective.{o.name}']:.6g}" for o in spec.objectives]
    for c in spec.constraints:
        op, limit = ("<=", c.max) if c.max is not None else (">=", c.min)
        lines.append(f"#   {c.metric}: mean {row[f'mean.{c.metric}']:.6g}, {spec.confidence:.0%} bound "
                     f"{row[f'bound.{c.metric}']:.6g} {op} {limit:g}")
    lines.append("#   knobs: " + ", ".join(f"{k} = {v!r}" for k, v in params_of(spec, row).items()))
    lines.append(f"#   over {spec.replications} replications each; run it: simcontainer run best.toml")
    return "\n".join(lines) + "\n" + dumps_scenario(scenario)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


__all__ = [
    "BUILTIN", "Constraint", "Objective", "OptimizeResult", "OptimizeSpec", "Runner", "builtin_figures",
    "configuration", "judge", "point_scenario", "load_optimize", "make_sampler", "open_study", "pareto_front", "params_of",
    "parse_optimize", "run_optimize", "trials_table",
]

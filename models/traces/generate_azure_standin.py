"""Write a small synthetic stand-in for one day of the Azure Functions 2019 trace.

The real files (``invocations_per_function_md.anon.dNN.csv`` in Azure/AzurePublicDataset, 14 days,
one row per function: HashOwner, HashApp, HashFunction, Trigger, then 1,440 per-minute invocation
counts) cannot be downloaded here, so this script makes a file of the same format whose shape
follows what the trace's paper publishes:

  Shahrad et al., "Serverless in the Wild: Characterizing and Optimizing the Serverless Workload
  at a Large Cloud Provider", USENIX ATC 2020.

Figures used (``paper``: stated in the paper; ``secondary``: the paper's figure as summarised by
M. Shilkov, "Serverless in the Wild: Azure Functions Production Usage Statistics", mikhail.io,
May 2020; ``estimate``: chosen here, no published figure):

* trigger mix, share of functions (secondary, the paper's Fig. 2): HTTP 55 %, queue 15 %,
  event 2 %, timer 16 %, orchestration 7 %, others 5 %;
* trigger mix, share of invocations (secondary, same figure): HTTP 36 %, queue 34 %, event 25 %,
  timer 2 %, orchestration 2 %, others 1 % -- the day's invocations (``DAILY_TOTAL``, estimate) are
  split among triggers by these shares, then among each trigger's functions in proportion to a
  lognormal weight (timers are then rounded to a period, so their share is approximate);
* functions per application (secondary, the paper's Fig. 1): 1: 54 %, 2: 16 %, 3: 10 %, 4-5: 8 %,
  6-10: 7 %, 11 or more: 5 %;
* invocation rates span about 8 orders of magnitude and most functions are invoked very
  infrequently (paper, abstract): the lognormal weights have sigma = 3.0 in natural log (5th-95th
  percentile 4.3 orders of magnitude) -- estimate; one day of 120 functions cannot show 8 orders
  (a count is a whole number and the busiest function would need ~10^8 a day), so the file shows
  what fits (``shape``): 4.6 orders of magnitude between its busiest and quietest invoked
  functions, 43 % of functions invoked at most once an hour, 88 % at most once a minute;
* timer functions fire on a fixed period (paper: timers are periodic) chosen from 1, 5, 10, 15,
  30, 60, 120, 360, 720, 1,440 minutes to match their rate; other triggers are Poisson per minute
  with a diurnal swing of +/-50 % peaking at 14:00 -- estimate.

Run ``python models/traces/generate_azure_standin.py`` to rewrite the stand-in file (the seed is
fixed, so the file is the same every time).
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

import numpy as np

SEED = 2019
FUNCTIONS = 120
MINUTES = 1440
OUT = Path(__file__).with_name("azure-functions-standin.d01.csv")

TRIGGERS = ("http", "queue", "event", "timer", "orchestration", "others")
FUNCTION_SHARE = (0.55, 0.15, 0.02, 0.16, 0.07, 0.05)
INVOCATION_SHARE = (0.36, 0.34, 0.25, 0.02, 0.02, 0.01)
APP_SIZES = ((1, 0.54), (2, 0.16), (3, 0.10), ((4, 5), 0.08), ((6, 10), 0.07), ((11, 30), 0.05))
DAILY_TOTAL = 150_000.0         # estimate: invocations in the file's day, ~100 a minute
SIGMA = 3.0                     # estimate
PERIODS = (1, 5, 10, 15, 30, 60, 120, 360, 720, 1440)


def _hash(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def generate(seed: int = SEED, functions: int = FUNCTIONS) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    sizes, weights = zip(*APP_SIZES)
    minute = np.arange(MINUTES)
    diurnal = 1.0 + 0.5 * np.cos(2 * math.pi * (minute - 14 * 60) / MINUTES)
    diurnal /= diurnal.mean()
    # who: applications of 1, 2, ... functions, each function a trigger and a weight
    funcs: list[tuple[str, str, str, int, float]] = []
    app = 0
    while len(funcs) < functions:
        size = sizes[rng.choice(len(sizes), p=weights)]
        n = size if isinstance(size, int) else int(rng.integers(size[0], size[1] + 1))
        owner = _hash("owner", int(rng.integers(0, functions // 2)))
        for f in range(min(n, functions - len(funcs))):
            k = int(rng.choice(len(TRIGGERS), p=FUNCTION_SHARE))
            funcs.append((owner, _hash("app", app), _hash("function", app, f), k,
                          math.exp(SIGMA * rng.standard_normal())))
        app += 1
    # how often: the day's total split by the published invocation mix, then by weight
    group = [sum(w for *_, k, w in funcs if k == g) for g in range(len(TRIGGERS))]
    rows: list[list[str]] = []
    for owner, app_hash, fn, k, w in funcs:
        per_day = DAILY_TOTAL * INVOCATION_SHARE[k] * w / group[k]
        if TRIGGERS[k] == "timer":
            period = min(PERIODS, key=lambda p: abs(math.log(MINUTES / p) - math.log(max(per_day, 1.0))))
            phase = int(rng.integers(0, period))
            counts = ((minute - phase) % period == 0).astype(np.int64)
        else:
            counts = rng.poisson(per_day / MINUTES * diurnal)
        rows.append([owner, app_hash, fn, TRIGGERS[k], *map(str, counts.tolist())])
    return rows


def shape(rows: list[list[str]]) -> dict[str, object]:
    """What the file shows of the published shape (printed by ``main``, checked by the tests)."""
    daily = np.array([sum(map(int, r[4:])) for r in rows], dtype=float)
    trig = [r[3] for r in rows]
    nz = daily[daily > 0]
    return {
        "functions": len(rows),
        "share_of_functions": {t: round(trig.count(t) / len(rows), 3) for t in TRIGGERS},
        "share_of_invocations": {t: round(float(daily[[x == t for x in trig]].sum() / daily.sum()), 3)
                                 for t in TRIGGERS},
        "orders_of_magnitude": round(float(np.log10(nz.max() / nz.min())), 1) if nz.size else 0.0,
        "at_most_hourly": round(float(np.mean(daily <= 24)), 3),
        "at_most_once_a_minute": round(float(np.mean(daily <= MINUTES)), 3),
    }


def main() -> int:
    rows = generate()
    header = ["HashOwner", "HashApp", "HashFunction", "Trigger", *map(str, range(1, MINUTES + 1))]
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(",".join(r) + "\n")
    print(f"wrote {OUT.name}: {shape(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

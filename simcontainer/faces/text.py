"""What the command line prints: fixed-width tables, a result's summary, memory, lifecycle,
API calls and assumptions in words, and JSON that is always valid (``null`` for NaN)."""

from __future__ import annotations

import json
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


# --------------------------------------------------------------------------- output helpers


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain fixed-width table (numbers right-aligned)."""
    if not rows:
        return "(nothing)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) for c in columns]

    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(c) for c in cells])


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)


def _value(v: Any) -> str:
    if v is None:
        return "unset"
    if isinstance(v, float):
        return f"{v:,.1f}".removesuffix(".0")
    return str(v)


def _headline(a: dict[str, Any]) -> str:
    """'p50 startup 58.2 -> 2.44 s, started 100 -> 100' (and the peak running, OOM kills and
    failed starts when they moved); for a workload's own setting, that workload's figures (its
    key names it)."""
    own = a.get("workload")
    was, now = (own["as_run"], own["flipped"]) if own else (a["as_run"], a["flipped"])
    out = (f"p50 startup {_fmt(was['startup_p50_s'])} -> {_fmt(now['startup_p50_s'])} s, "
           f"started {was['started']} -> {now['started']}")
    for key, label in (("peak_running", "peak running"), ("oom_kills", "OOM kills"),
                       ("failed_starts", "failed starts")):
        if was.get(key) != now.get(key):        # what moved besides
            out += f", {label} {was.get(key)} -> {now.get(key)}"
    if _pct(was.get("availability")) != _pct(now.get("availability")):     # a workload's own
        out += f", availability {_pct(was['availability'])} -> {_pct(now['availability'])}"
    return out


def render_assumptions(items: list[dict[str, Any]], cost_s: float | None = None) -> str:
    """The ``assumptions`` block: one line per setting the answer rests on, ``key = value
    (default / chosen)``, what it decides, and -- where measured -- the headline as run and with
    that one setting flipped (the same seed and arrivals)."""
    if not items:
        return ""
    lines = ["assumptions (what this answer rests on; flipped: the same run, same seed and arrivals, with only that"
             " setting changed)"]
    for a in items:
        src = a["source"] if a["default"] and a["source"] != "default" else ("default" if a["default"] else "chosen")
        line = f"  {a['key']} = {_value(a['value'])} ({src})"
        effect = a.get("effect")
        if effect:
            line += f" · flipped to {_value(a['flip_to'])}: {_headline(effect)}"
        elif a.get("flip_error"):
            line += f" · flipped to {_value(a['flip_to'])}: not run ({a['flip_error'].splitlines()[-1].strip(' -')})"
        lines.append(f"{line} · {a['why']}")
    if cost_s is not None:
        lines.append(f"  (flips not measured: about {cost_s:,.0f} s of reruns; --flips measures them)")
    return "\n".join(lines)


def to_json(data: Any) -> str:
    """JSON with null for any non-finite number (NaN and Infinity are not JSON)."""
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _pct(x: float | None) -> str | None:
    return None if x is None else f"{x:.0%}"


def _censored(c: dict[str, Any]) -> str | None:
    """A mean wait that counts requests still waiting up to the horizon: '>=' when it is a lower bound."""
    if c["mean"] is None:
        return None
    return (">=" if c["censored"] else "") + _fmt(c["mean"])


def render_summary(s: dict[str, Any]) -> str:
    """The run's tables: what happened to the requests, how fast they started, the hosts.

    A "-" is a figure over nothing (no instance got that far), never a zero."""
    rows = []
    for name, w in s["workloads"].items():
        rows.append({
            "workload": name, "runtime": w["runtime"], "requested": w["requested"], "started": w["started"],
            "rejected": w["rejected"], "waiting": w["waiting_at_horizon"], "completed": w["completed"],
            "startup p50 s": w["startup_s"]["p50"], "p95 s": w["startup_s"]["p95"], "p99 s": w["startup_s"]["p99"],
            "waited": _pct(w["wait_s"]["waited_fraction"]), "mean wait s": _censored(w["wait_censored_s"]),
            "CPU got": _pct(w["cpu"]["received_fraction"]),
            "peak running": w["peak_running"], "mean running": w["mean_running"],
            "peak RAM MiB": w.get("peak_ram_mib"),
        })
    phases = [{"workload": n, **w["phases_s"], **{f"pull.{k}": v for k, v in w.get("pull_phases_s", {}).items()}}
              for n, w in s["workloads"].items()]
    h = s["host"]
    host_line = (f"hosts: {h['count']} | peak disk {h['peak_disk_mib']:,.0f} MiB"
                 f" | mean CPU {h['mean_cpu_util']:.1%} (asked {h['mean_cpu_demand']:.1%}, peak asked"
                 f" {h['peak_cpu_demand']:.0%}) | pulled {h['pulled_mib']:,.0f} MiB | peak running {h['peak_running']}")
    host_line += f"\n{render_memory(s)}{_admission_line(s.get('admission'))}"
    return (f"{s['scenario']} (seed {s['seed']}, {s['duration_s']:g} s simulated)\n\n"
            f"{table(rows)}\n(waiting: requests still waiting for room at the horizon; waited: share of the"
            f" admitted that waited; mean wait: of all that queued, those still waiting counted up to the"
            f" horizon; CPU got: CPU the running apps received of what they asked)\n\n"
            f"mean startup phases (s)\n{table(phases)}\n\n{host_line}{render_lifecycle(s)}{_warm(s)}")


def render_memory(s: dict[str, Any]) -> str:
    """RAM said plainly: what admission reserved against what it may promise (the overcommitted
    capacity), what the instances really used against the host's RAM, and the OOM kills."""
    h = s["host"]
    n = h["count"]
    over = f" over {n} hosts" if n > 1 else ""
    ratio = h.get("memory_overcommit", 1.0)
    physical, kept = h.get("physical_ram_mib", h["ram_mib"]), h.get("host_reserved_mib", 0.0)
    usable = physical - kept
    why = []
    if ratio > 1.0:
        why.append(f"{ratio:g}x overcommit of {usable:,.0f}")
    if kept:
        why.append(f"{physical:,.0f} less {kept:,.0f} kept for the host")
    lines = [f"RAM reserved: peak {h['peak_ram_mib']:,.0f} of {h['ram_mib']:,.0f} MiB{over}"
             + (f" ({'; '.join(why)})" if why else "") + f", mean {h['mean_ram_mib']:,.0f} MiB"
             + " · what admission promised the instances"]
    mem = s.get("memory")
    if mem is None:
        lines.append("RAM resident: not modelled · no workload sets usage or mem_limit_mib: each instance "
                     "counts as using what it reserved, and nothing is OOM-killed")
        return "\n".join(lines)
    hosts = mem["hosts"]
    k, top = max(enumerate(hosts), key=lambda kh: kh[1]["peak_used_mib"] / kh[1]["capacity_mib"])
    where = f" on host {k}, the fullest of {n}" if n > 1 else ""
    line = f"RAM resident: peak {top['peak_used_mib']:,.0f} of {top['capacity_mib']:,.0f} MiB{where}"
    line += f", swap peak {top['peak_swapped_mib']:,.0f} of {top['swap_mib']:,.0f} MiB" if top["swap_mib"] else ""
    line += " · physical RAM the instances used, against the host's RAM less what it keeps"
    lines.append(line)
    ws = mem["workloads"].values()
    host_k, cgroup_k = sum(w["host_kills"] for w in ws), sum(w["cgroup_kills"] for w in ws)
    kills = f"OOM kills: {mem['oom_kills']} (host OOM killer {host_k}, over a cgroup limit {cgroup_k}"
    panic = sum(w.get("panic_kills", 0) for w in ws)
    kills += f", by a host panic {panic}" if panic else ""
    kills += f"; evictions {mem['evictions']})" if mem.get("evictions") else ")"
    lines.append(kills)
    return "\n".join(lines)


def _admission_line(a: dict[str, Any] | None) -> str:
    """The admission policy that ran (issue 17), with its preemptions when on."""
    if not a:
        return ""
    out = f"\nadmission: {a['policy']}"
    if a.get("retry"):
        out += f" (retry on {a['retry']})"
    if a.get("preemption"):
        out += f" | preemption: {a['preemptions']} victim(s)"
    return out


def _warm(s: dict[str, Any]) -> str:
    if not any("warm" in w for w in s["workloads"].values()):
        return ""

    return render(s)


def render_lifecycle(s: dict[str, Any]) -> str:
    """Restarts, failures, availability and exits per workload, and each fault's blast radius:
    shown when something of the kind happened (a run of ``docker run --rm`` churn shows none)."""
    rows = []
    for name, w in s["workloads"].items():
        lc = w.get("lifecycle")
        if lc is None:
            continue
        mem = (s.get("memory") or {}).get("workloads", {}).get(name)
        rows.append({"workload": name, "restarts": lc["restarts"], "back-off s": lc["backoff_s"],
                     "availability": _pct(lc["availability"]), "failed starts": lc["failed_starts"],
                     **({"OOM kills": mem["oom_kills"]} if mem is not None else {}),
                     "exited, kept": w.get("exited_kept", 0),
                     "exit codes": " ".join(f"{c}:{n}" for c, n in lc["exit_codes"].items()) or None})
    busy = any(r["restarts"] or r["failed starts"] or r["exited, kept"] or r.get("OOM kills") for r in rows)
    faults = s.get("faults") or []
    out = ""
    if busy or faults:
        out += (f"\n\nlifecycle (availability: time running and ready over the time meant to run; an"
                f" instance that ended failed is down from then on)\n{table(rows)}")
        why = [f"  {name}: {n} x {reason}" for name, w in s["workloads"].items()
               for reason, n in (w.get("lifecycle") or {}).get("failures", {}).items()]
        if why:
            out += "\nfailed starts and restarts, why:\n" + "\n".join(why)
    if faults:
        frows = [{"at s": f["time_s"], "fault": f.get("kind_effective", f["kind"]), "host": f["host"],
                  "lost": f["instances_lost"],
                  "by runtime": " ".join(f"{k}:{v}" for k, v in f["lost"].items()) or None,
                  "running before": f["running_before"], "recovery s": f["recovery_s"],
                  "capacity lost inst-s": f["capacity_lost_instance_s"],
                  "requests failed": f.get("requests_failed")} for f in faults]
        out += f"\n\nfaults (recovery: back to the running count before the fault; - = not by the horizon)\n{table(frows)}"
    return out


# What each answer code of a scripted API call means (Docker's API codes).
API_STATUS = {204: "done", 304: "nothing to do (already started, or already stopped)",
              400: "a bad argument (an invalid signal)", 404: "no such instance (not requested yet, or already removed)",
              409: "refused: not allowed in the instance's state"}


def render_api_calls(scenario: Any, calls: list[dict[str, Any]]) -> str:
    """One row per scripted API call: when, what, on which instance, and the answer."""
    acts = sorted(scenario.actions, key=lambda a: a.at_s)   # the order the engine makes the calls
    rows = []
    for k, c in enumerate(calls):
        a = acts[k] if len(calls) <= len(acts) else None
        rows.append({"at s": c["time_s"], "op": c["op"],
                     "target": f"{a.workload}[{a.instance}]" if a is not None else f"instance {c['instance']}",
                     "status": c["status"], "state then": c["state"],
                     "answer": API_STATUS.get(c["status"], "")})
    errors = sum(not c["ok"] for c in calls)
    return f"{table(rows)}\n{len(calls)} call(s), {errors} error(s)"


def render_compare(results: dict[str, dict[str, Any]]) -> str:
    """Per runtime and workload: what started, how fast, and where the startup time went."""
    rows, phases, notes = [], [], []
    for rt, s in results.items():
        if s.get("skipped"):
            notes.append(f"{rt}: skipped: {s['reason']}")
            continue
        for name, w in s["workloads"].items():
            rows.append({"runtime": rt, "workload": name, "requested": w["requested"], "started": w["started"],
                         "rejected": w["rejected"], "waiting": w["waiting_at_horizon"],
                         "startup p50 s": w["startup_s"]["p50"], "p95 s": w["startup_s"]["p95"],
                         "peak running": w["peak_running"], "peak RAM MiB": w.get("peak_ram_mib")})
            phases.append({"runtime": rt, "workload": name, **w["phases_s"],
                           "pulled MiB": w["pull"]["pulled_mib"], "VM disk copy MiB": w["vm_disk_copy_mib"]})
        if s["skipped_workloads"]:
            notes.append(f"{rt}: left out {', '.join(s['skipped_workloads'])} "
                         "(VM disk images a container runtime cannot run)")
    out = table(rows)
    if phases:
        out += (f"\n\nmean startup phases (s): where each runtime's startup goes (create includes the"
                f" VM disk copy)\n{table(phases)}")
    return out + "".join(f"\n\n{n}" for n in notes)


def render(s: dict[str, Any]) -> str:
    """The CLI's warm-path table (empty when no workload has warm paths)."""

    rows = []
    for name, w in s["workloads"].items():
        wb = w.get("warm")
        if wb is None:
            continue
        ss = wb["startup_s"]
        rows.append({"workload": name, "cold": wb["starts"]["cold"], "warm": wb["starts"]["warm"],
                     "snapshot": wb["starts"]["snapshot"], "cold p50 s": ss["cold"]["p50"],
                     "snapshot p50 s": ss["snapshot"]["p50"], "restore s": w["phases_s"].get("restore"),
                     "fault CPU s": wb["fault_cpu_s"], "idle MiB-s": wb["idle_mib_s"],
                     "idle mean MiB": wb["idle_mean_mib"]})
    if not rows:
        return ""
    return ("\n\nwarm paths (starts by kind; idle: RAM held by idle warm instances)\n" + table(rows))

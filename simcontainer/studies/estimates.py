"""Which figures of an answer rest on estimates rather than measurements.

Every figure in a profile (models/runtimes/*.toml, models/control-planes/*.toml) cites its source
in the profile's ``sources``; a source that starts with "estimate" is one. A figure the app shows
rests on an estimate when a profile figure it is computed from does: the median startup on the
runtime's create and boot medians and the control plane's API, sandbox and network medians; the
count that fits on the runtime's memory overhead (and, for a VM, the guest OS's share). The app
marks such a figure with :data:`MARK` and gives the sources on hover.
"""

from __future__ import annotations

from simcontainer.scenario.profiles import Catalogue, default_catalogue, split_runtime

MARK = "≈"
# figure -> (runtime profile keys, control plane profile keys) it is computed from
BASIS = {
    "startup": (("create.median_s", "boot.median_s"), ("api.median_s", "sandbox.median_s", "network.median_s")),
    "fits": (("mem_overhead_mib", "guest_os_mib"), ()),
}


def is_estimate(source: str) -> bool:
    return str(source).strip().lower().startswith("estimate")


def estimated(entry: str, figure: str, catalogue: Catalogue | None = None) -> list[str]:
    """The estimated profile figures ``figure`` (``startup`` or ``fits``) of a compared entry
    (``runc``, ``runc@kubelet``) rests on, each as 'runc: create.median_s — estimate: ...'."""
    cat = catalogue or default_catalogue()
    name, plane = split_runtime(str(entry))
    rt = cat.runtimes.get(name)
    if rt is None:
        return []
    plane = plane or rt.control_plane or "direct"
    rt_keys, plane_keys = BASIS[figure]
    out = [f"{name}: {k} — {rt.sources[k]}" for k in rt_keys if is_estimate(rt.sources.get(k, ""))]
    spec = cat.control_planes.get(plane)
    if spec is not None:
        out += [f"{plane}: {k} — {spec.sources[k]}" for k in plane_keys if is_estimate(spec.sources.get(k, ""))]
    return out


def mark(entry: str, figure: str, catalogue: Catalogue | None = None) -> str:
    """:data:`MARK` when the figure rests on an estimate, else ""."""
    return MARK if estimated(entry, figure, catalogue) else ""


def hover(entry: str, figure: str, catalogue: Catalogue | None = None) -> str:
    """The text behind the mark: which figures are estimates and their sources ("" if none)."""
    found = estimated(entry, figure, catalogue)
    if not found:
        return ""
    return (f"{MARK} rests on estimates (not measurements) in the profiles:\n\n"
            + "\n".join(f"- {f}" for f in found))

"""The estimate mark on the figures the lessons and the warm-starts section show: the same
:data:`simcontainer.studies.estimates.MARK` (≈) and hover text as the planner's own figures.

A figure rests on an estimate when a profile figure it is computed from does (a startup on the
runtime's and its control plane's medians; a snapshot restore on ``models/warm.toml``'s restore
figures). Each page names the runtime entries (``firecracker``, ``runc@kubelet``) its figure comes
from; these helpers put the mark on the label and the sources behind a hover.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simcontainer.scenario.profiles import restore_for, split_runtime
from simcontainer.studies import estimates

MARK = estimates.MARK
Figure = str | tuple[str, ...]     # "startup", "fits", "restore", or several


def restore_estimates(entry: str) -> list[str]:
    """The estimated snapshot-restore figures of a runtime (models/warm.toml), each with its source."""
    restore = restore_for(split_runtime(entry)[0])
    if restore is None:
        return []
    return [f"{restore.runtime}: restore — {s}" for s in restore.sources if "estimate" in str(s).lower()]


def found(entries: Iterable[str], figure: Figure = "startup") -> list[str]:
    """Every estimated profile figure behind ``figure`` (``startup``, ``fits``, ``restore``, or
    several) of these entries, each once."""
    out: list[str] = []
    for entry in entries:
        for f in (figure,) if isinstance(figure, str) else figure:
            more = restore_estimates(entry) if f == "restore" else estimates.estimated(entry, f)
            out += [x for x in more if x not in out]
    return out


def marked(text: str, entries: Iterable[str], figure: Figure = "startup") -> str:
    """``text`` with `` ≈`` when the figure rests on an estimate."""
    return f"{text} {MARK}" if found(entries, figure) else text


# what a warm strategy's startup rests on: a snapshot's on the restore (models/warm.toml) and the
# start path around it; the page-fault work after a restore ("fault") on the restore's alone; every
# other strategy's on the runtime's start path
STRATEGY_BASIS: dict[str, Figure] = {"snapshot": ("startup", "restore"), "fault": "restore"}


def strategy_marked(text: str, entry: str, strategy: str) -> str:
    """A warm strategy's figure (``strategy``, or "fault" for the fault CPU after a restore) with the
    mark when it rests on an estimate; "—" (no figure) and a warm start's 0 (nothing started) stay bare."""
    if text == "—" or text.strip("0. s/") == "":
        return text
    return marked(text, [entry], STRATEGY_BASIS.get(strategy, "startup"))


def sources(entries: Iterable[str], figure: Figure = "startup") -> str:
    """The hover text behind the mark ("" when nothing is estimated)."""
    got = found(entries, figure)
    if not got:
        return ""
    return f"{MARK} rests on estimates (not measurements) in the profiles:\n\n" + "\n".join(f"- {f}" for f in got)


def with_sources(help_text: str, entries: Iterable[str], figure: Figure = "startup") -> str:
    """A figure's own help, then the sources of its estimates (when it has any)."""
    more = sources(entries, figure)
    return f"{help_text}\n\n{more}" if more else help_text


def metric(where: Any, label: str, value: Any, entries: Iterable[str], figure: Figure = "startup",
           help: str = "") -> None:    # noqa: A002 - Streamlit's own name for it
    """``st.metric`` with the mark on its label and the sources in its help."""
    entries = list(entries)
    where.metric(marked(label, entries, figure), value, help=with_sources(help, entries, figure) or None)


def note(where: Any, entries: Iterable[str], figure: Figure = "startup", what: str = "the figures") -> None:
    """A caption under a chart or table saying what the mark means, its sources on hover (nothing
    when no figure shown rests on an estimate)."""
    entries = list(entries)
    text = sources(entries, figure)
    if text:
        where.caption(f"{MARK}: {what} so marked rest on an estimate (hover for its sources).", help=text)

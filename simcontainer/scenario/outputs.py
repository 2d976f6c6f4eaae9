"""Output paths checked before a run, so that a run of minutes never ends in "cannot write";
and the one way every output is written (:func:`write_atomic`).

A path is tried for real: a probe file is created (and removed) in its folder, which is the only
test that answers for read-only mounts, ``/proc``, full quotas and root alike (``os.access``
says yes to root everywhere).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from simcontainer.scenario.errors import ScenarioError


def _refuse(flag: str, problem: str) -> ScenarioError:
    return ScenarioError([f"{flag}: {problem}"], source="command line")


def _probe(folder: Path, flag: str) -> None:
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".simcontainer-probe-")
    except OSError as exc:
        raise _refuse(flag, f"cannot write in folder {str(folder)!r}: {exc.strerror or exc} "
                            "(allowed: a folder you can write to)") from None
    os.close(fd)
    os.unlink(name)


def check_writable_file(path: str | Path, flag: str, suffix: str | None = None) -> Path:
    """``path`` as a file this process can create or replace; raises :class:`ScenarioError`."""
    p = Path(path)
    if suffix is not None and p.suffix != suffix:
        raise _refuse(flag, f"{str(path)!r} does not end in {suffix} (allowed: FILE{suffix})")
    if p.is_dir():
        raise _refuse(flag, f"{str(path)!r} is a folder (allowed: a file path, e.g. {str(p / ('out' + (suffix or '')))!r})")
    if p.exists() and not p.is_file():
        raise _refuse(flag, f"{str(path)!r} is not a regular file (allowed: a new or ordinary file)")
    parent = p.parent
    if not parent.is_dir():
        raise _refuse(flag, f"folder {str(parent)!r} does not exist (allowed: a path in an existing folder)")
    _probe(parent, flag)
    if p.exists() and not os.access(p, os.W_OK):
        raise _refuse(flag, f"{str(path)!r} is read-only (allowed: a file you can write)")
    return p


def check_writable_folder(path: str | Path, flag: str, create: bool = True) -> Path:
    """``path`` as a folder this process can write in, created if need be. With ``create=False``
    a missing folder is left missing, and its nearest existing parent must be writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise _refuse(flag, f"{str(path)!r} is a file (allowed: a folder)")
    if not create and not p.exists():
        parent = p.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise _refuse(flag, f"{str(parent)!r} is a file (allowed: a folder)")
        _probe(parent, flag)
        return p
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refuse(flag, f"cannot create folder {str(path)!r}: {exc.strerror or exc} "
                            "(allowed: a folder you can write to)") from None
    _probe(p, flag)
    return p


def write_atomic(path: str | Path, writer: Callable[[Path], None] | str) -> None:
    """Write ``path`` through a temporary file in the same folder and ``os.replace``: a reader
    (or a crash, or Ctrl-C) sees the old file or the new one, never half of one. ``writer`` writes
    the temporary path it is given (a table's ``to_parquet``, pyarrow's ``write_table``), or is
    the text itself. OSError propagates (callers say which flag or file it was)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(writer, str):
            tmp.write_text(writer, encoding="utf-8")
        else:
            writer(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

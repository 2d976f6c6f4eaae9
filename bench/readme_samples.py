"""The README's console samples, regenerated from today's output: ``make readme``.

    python -m bench.readme_samples            # list the samples that drifted (exit 1 if any)
    python -m bench.readme_samples --write    # rewrite them in README.md

A sample is a ```console block whose first line is ``$ COMMAND``: the command is run (``simcontainer``
or ``.venv/bin/simcontainer`` as ``python -m simcontainer``) in a scratch folder that holds the
repository's ``models/`` and the FILES below, and the block becomes its output (stdout, then
stderr), cut to as many paragraphs as the sample shows. A table whose header in the sample has
``...`` columns keeps only the columns the sample names (the ``...`` stand for the ones left out),
so a wide table stays readable, and a paragraph that is only ``...`` stands for one paragraph left
out (one that changes from run to run, like the wall time, or one beside the point). tests/test_readme.py
fails when a sample drifts.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Input files the samples name (each sample's command runs beside them)
FILES = {
    "bad.toml": ('name = "x"\nduration_s = 60\nhost = { cpu_cores = 4, ram_mib = -1, disk_gib = 10 }\n'
                 '[[workloads]]\nname = "w"\nruntime = "rnuc"\nimage = "alpine:3.20"\nmem_mib = 64\n'
                 'arrival = { kind = "burst", count = 1 }\n'),
    # a planner's question: 100 Firecracker microVMs of 512 MiB deployed at once
    "fc-burst.toml": ('name = "fc-burst"\nduration_s = 300\nhost = "server-64g"\n[[workloads]]\nname = "vm"\n'
                      'runtime = "firecracker"\nimage = "firecracker-rootfs"\nmem_mib = 512\n'
                      'arrival = { kind = "burst", count = 100, at_s = 0 }\n'),
}
ELIDED = "..."
_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
_COLUMNS = re.compile(r"\S+(?: \S+)*")      # header cells: words joined by single spaces


@dataclass
class Sample:
    start: int          # offsets of the block's body in README.md
    end: int
    command: str
    shown: str          # the body as the README has it
    fresh: str          # the body from today's output


def samples(text: str | None = None) -> list[Sample]:
    """Every console sample of the README, with today's output beside it."""
    text = README.read_text(encoding="utf-8") if text is None else text
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "models").symlink_to(ROOT / "models")
        for name, content in FILES.items():
            (folder / name).write_text(content, encoding="utf-8")
        for m in _BLOCK.finditer(text):
            body = m.group(1)
            first, _, shown = body.partition("\n")
            if not first.startswith("$ "):
                continue
            command = first[2:].strip()
            fresh = shape(run(command, folder), shown)
            out.append(Sample(m.start(1), m.end(1), command, body, f"{first}\n{fresh}"))
    return out


def run(command: str, cwd: Path) -> str:
    argv = shlex.split(command)
    if Path(argv[0]).name != "simcontainer":
        raise ValueError(f"README sample: {command!r} is not a simcontainer command")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "simcontainer", *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr


def paragraphs(text: str) -> list[list[str]]:
    paras: list[list[str]] = [[]]
    for line in text.rstrip("\n").split("\n"):
        if line.strip():
            paras[-1].append(line)
        elif paras[-1]:
            paras.append([])
    return [p for p in paras if p]


def shape(output: str, shown: str) -> str:
    """``output`` cut to the sample's paragraphs, and its tables to the sample's columns."""
    want = paragraphs(shown)
    got = paragraphs(output)[:len(want)]
    for i, para in enumerate(got):
        if want[i] == [ELIDED]:         # a paragraph the sample leaves out
            got[i] = [ELIDED]
            continue
        header = want[i][0] if i < len(want) else ""
        names = _COLUMNS.findall(header)
        if ELIDED in names:
            got[i] = cut_table(para, names)
    return "\n\n".join("\n".join(p) for p in got) + "\n"


def cut_table(lines: list[str], names: list[str]) -> list[str]:
    """Keep the columns of a fixed-width table (header, dashes, rows) that ``names`` lists, with
    ``...`` where the sample leaves columns out. Lines after the table are kept as they are."""
    dashes = next((k for k, line in enumerate(lines) if re.fullmatch(r"-+(?:  +-+)*", line)), None)
    if dashes is None or dashes == 0:
        return lines
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[dashes])]
    header = lines[dashes - 1]
    cells = [header[a:b].strip() for a, b in spans]
    keep = [c in names for c in cells]
    table_end = dashes + 1
    while table_end < len(lines) and not lines[table_end].startswith("("):
        table_end += 1
    out = []
    for line in lines[dashes - 1:table_end]:
        parts, skipping = [], False
        for (a, b), kept in zip(spans, keep):
            if kept:
                parts.append(line[a:b].ljust(b - a))
                skipping = False
            elif not skipping:
                parts.append("-" * 3 if line is lines[dashes] else ELIDED)
                skipping = True
        out.append("  ".join(parts).rstrip())
    return lines[:dashes - 1] + out + lines[table_end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme_samples", description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="rewrite the drifted samples in README.md")
    args = p.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    drifted = [s for s in samples(text) if s.fresh != s.shown]
    for s in drifted:
        print(f"drifted: $ {s.command}")
    if args.write and drifted:
        for s in sorted(drifted, key=lambda s: -s.start):
            text = text[:s.start] + s.fresh + text[s.end:]
        README.write_text(text, encoding="utf-8")
        print(f"README.md: {len(drifted)} sample(s) rewritten")
        return 0
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the server's time goes: py-spy samples of the ``tokenturn serve`` workers during a load run.

``record`` attaches py-spy (``--subprocesses --nonblocking``, idle threads excluded, so a sample
is a moment a worker was busy: a share of samples approximates a share of server CPU) and
writes collapsed stacks; ``summarize`` turns them into two top-N lists, by self time (the
innermost Python frame: where the CPU was burnt, C calls such as sqlite3 included in the frame
that made them) and by inclusive time (every frame on the stack).

    .venv/bin/python bench/pyspy.py summarize bench/results/<ts>/profile-refresh.raw
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def find_py_spy() -> str | None:
    """py-spy on PATH, beside this interpreter, or in $PY_SPY."""
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), str(Path(sys.executable).parent / "py-spy")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def record(pid: int, seconds: int, out: Path, rate: int = 100) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` and its subprocesses for ``seconds``; the caller waits on the process."""
    py_spy = find_py_spy()
    if py_spy is None:
        raise FileNotFoundError("py-spy not found: pip install py-spy (or set PY_SPY=/path/to/py-spy)")
    cmd = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--nolineno",
           "--rate", str(rate), "--duration", str(seconds), "--format", "raw", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _frames(stack: str) -> list[str]:
    # py-spy --subprocesses puts "process 123:\"cmd\"" (and with -t "thread ...") first
    return [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]


def _short(frame: str) -> str:
    """``handle (tokenturn/server/app.py)`` -> ``handle (server/app.py)``: enough to find it."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    parts = where.split("/")
    return f"{name} ({'/'.join(parts[-2:])})" if where else name


def summarize(raw: Path, top: int = 25) -> str:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(raw) as fh:
        for line in fh:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            frames = [_short(f) for f in _frames(stack)]
            if not frames:
                continue
            n = int(count_text)
            total += n
            self_time[frames[-1]] += n
            for f in set(frames):
                inclusive[f] += n
    if not total:
        return "no samples (was the server busy while py-spy ran?)\n"
    lines = [f"{total} busy samples across the workers\n", f"### Top {top} by self time (% of busy samples)\n",
             "| % self | samples | function (file) |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {100 * n / total:.1f} | {n} | `{f}` |" for f, n in self_time.most_common(top)]
    lines += ["", f"### Top {top} by inclusive time\n", "| % incl | samples | function (file) |", "|---|---|---|"]
    lines += [f"| {100 * n / total:.1f} | {n} | `{f}` |" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summarize", help="top functions of a py-spy raw (collapsed) file")
    s.add_argument("raw", type=Path)
    s.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    print(summarize(a.raw, a.top), end="")


if __name__ == "__main__":
    main()

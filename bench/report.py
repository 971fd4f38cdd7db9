"""The one table of `python -m bench`: a row per measurement, the machine it ran on, and its place
in docs/benchmarks.md between the markers."""

import os
import platform
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
COLUMNS = ("stage", "figure", "raw / reference", "ratio", "target", "met?",
           "busiest processes (% of a core, CPU per item)")


@dataclass(frozen=True)
class Row:
    stage: str
    figure: str
    reference: str
    ratio: float | None  # figure over reference, where a raw client gives one
    target: str
    met: bool | None  # None: no target for this row, or not at this size
    busiest: str = ""

    def cells(self) -> tuple[str, ...]:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}×"
        met = {True: "yes", False: "no", None: "—"}[self.met]
        return self.stage, self.figure, self.reference, ratio, self.target, met, self.busiest or "—"


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def machine(kafka: str, postgres: str, load: str) -> str:
    """Where and when the figures were taken."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    system = f"{release.get('PRETTY_NAME', platform.system()).strip(chr(34))}, Linux {platform.release()}"
    return (f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: {os.cpu_count()} cores ({cpu}), "
            f"{memory_kib / 2**20:.1f} GiB, {system}, Python {sys.version.split()[0]}, Apache Kafka {kafka} "
            f"(one local broker), PostgreSQL {postgres}; load average before the run {load}.")


def section(rows: list[Row], where: str, command: str) -> str:
    return f"Measured {where}\n\n`{command}`\n\n{table(rows)}\n"


def write(document: Path, text: str) -> None:
    """Replace what lies between the markers; the rest of the document stays as it is."""
    content = document.read_text()
    start, end = content.find(BEGIN), content.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{document} has no {BEGIN} … {END} section to write the table into")
    document.write_text(f"{content[:start + len(BEGIN)]}\n{text}{content[end:]}")

"""This machine's processes as /proc shows them: who is whose child, their CPU time, their command."""

import os
from pathlib import Path

TICKS_S = os.sysconf("SC_CLK_TCK")


def table() -> dict[int, tuple[int, float]]:
    """Every process: (parent pid, CPU seconds, user and system)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold anything
        found[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS_S)
    return found


def children(pid: int) -> list[int]:
    return [child for child, (parent, _) in table().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    processes, found, parents = table(), [], {pid}
    while parents:
        parents = {child for child, (parent, _) in processes.items() if parent in parents}
        found += parents
    return found


def command(pid: int) -> str:
    """Its command line, arguments separated by spaces; a PostgreSQL backend's names its database."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
    except OSError:
        return ""


def postgres_backends(databases: list[str]) -> list[int]:
    """PostgreSQL's processes serving these databases ("postgres: 15/main: user database host state")."""
    return [pid for pid in table() if (line := command(pid)).startswith("postgres:")
            and any(f" {name} " in line for name in databases)]


def service(pid: int) -> str:
    """The service a `python -m services.<name>` process runs, named as `hps up` names it."""
    argv = command(pid).split(" ")
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else Path(argv[0]).name
    return {"services.finance.ledger": "ledger"}.get(module, module.removeprefix("services."))

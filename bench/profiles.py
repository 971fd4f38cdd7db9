"""`--profile DIR`: py-spy samples chosen Python processes of the platform while a measurement runs, one
collapsed-stack file per part and measurement (`DIR/<measurement>-<part>.txt`, a line per stack
with its sample count), for a flame graph (speedscope, flamegraph.pl) or a plain `sort`."""

import shutil
import signal
import subprocess
import sys
from pathlib import Path

RATE_HZ = 100


def py_spy() -> str:
    found = shutil.which("py-spy") or Path(sys.executable).with_name("py-spy")
    if not Path(found).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install -e '.[bench]'")
    return str(found)


class Recording:
    def __init__(self, folder: Path, label: str, roots: dict[int, str], parts: tuple[str, ...]):
        self.folder, self.label = folder, label
        self.targets = {part: pid for pid, part in roots.items() if part in parts}
        self.samplers: list[subprocess.Popen] = []

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for part, pid in self.targets.items():
            output = self.folder / f"{self.label}-{part}.txt"
            # A service's own processes (the gateway's workers) too; this one's children are the platform.
            family = ["--subprocesses"] if part != "bench" else []
            self.samplers.append(subprocess.Popen(
                [py_spy(), "record", "--pid", str(pid), *family, "--nonblocking", "--rate", str(RATE_HZ),
                 "--format", "raw", "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        """Ctrl-C is how py-spy is told to write what it sampled."""
        for sampler in self.samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in self.samplers:
            try:
                sampler.wait(30)
            except subprocess.TimeoutExpired:
                sampler.kill()
                sampler.wait()

"""The coverage floor of the modules that hold the money and the reliability promises.

`make test` runs the suite under coverage (services in subprocesses included), combines the data
and runs this against `coverage json`'s output: any module below its floor fails the build.
"""

import json
import sys
from pathlib import Path

LINES_PCT, BRANCHES_PCT = 95.0, 90.0

FLOORED = {
    "ledger": ["services/finance/ledger/book.py", "services/finance/ledger/batch.py",
               "services/finance/ledger/entries.py", "services/finance/ledger/closing.py",
               "services/finance/ledger/statements.py", "services/finance/ledger/api.py",
               "services/finance/ledger/repository.py", "services/finance/ledger/outcome.py",
               "services/finance/ledger/month_end_api.py"],
    "money": ["shared/money.py"],
    "apportionment": ["services/finance/ledger/apportionment.py"],
    "idempotency": ["shared/idempotency.py", "services/gateway/store.py", "services/gateway/routes.py",
                    "services/gateway/commands.py"],
    "consumer loop": ["shared/kafka/consuming.py", "shared/health.py", "shared/request_engine/worker.py",
                      "services/finance/ledger/engine.py", "services/gateway/readmodel.py"],
    "input types": ["shared/fields.py"],
}


def percent(covered: int, total: int) -> float:
    return 100.0 if total == 0 else 100.0 * covered / total


def check(report: dict) -> list[str]:
    """One line per floored module; returns the modules below a floor."""
    files = report["files"]
    below = []
    print(f"{'group':<14} {'module':<42} {'lines':>8} {'branches':>9}")
    for group, modules in FLOORED.items():
        for module in modules:
            summary = files.get(module, {}).get("summary")
            if summary is None:
                below.append(f"{module}: not measured at all")
                continue
            lines = percent(summary["covered_lines"], summary["num_statements"])
            branches = percent(summary["covered_branches"], summary["num_branches"])
            ok = lines >= LINES_PCT and branches >= BRANCHES_PCT
            print(f"{group:<14} {module:<42} {lines:>7.1f}% {branches:>8.1f}%{'' if ok else '  BELOW'}")
            if not ok:
                below.append(f"{module}: {lines:.1f}% lines, {branches:.1f}% branches")
    return below


def main(path: str) -> int:
    below = check(json.loads(Path(path).read_text()))
    if below:
        print(f"\nbelow the floor of {LINES_PCT:.0f}% lines and {BRANCHES_PCT:.0f}% branches:", *below, sep="\n  ")
        return 1
    print(f"\nevery floored module has at least {LINES_PCT:.0f}% of lines and {BRANCHES_PCT:.0f}% of branches covered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Run every ``benchmarks/bench_*.py`` and print one table per benchmark.

Each module defines ``TITLE`` and ``run() -> list[dict]``; every dict is a row
(``name``, measured value, target, pass/fail...). Benchmarks measure; they never
fail the build. ``python benchmarks/run.py align io`` runs only those named.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _print_table(title: str, rows: list[dict[str, object]]) -> None:
    print(f"\n## {title}\n")
    if not rows:
        print("(no rows)")
        return
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))
    wanted = set(argv)
    for path in sorted(HERE.glob("bench_*.py")):
        key = path.stem.removeprefix("bench_")
        if wanted and key not in wanted:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        rows = module.run()
        _print_table(f"{module.TITLE}  ({time.perf_counter() - start:.1f} s)", rows)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

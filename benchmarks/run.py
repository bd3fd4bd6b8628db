"""`make bench`: sync throughput, page speed, load, import, fan-out and memory, each measured
against a baseline taken on the same machine in the same run (this machine is shared and
noisy: only ratios mean something). Writes benchmarks/results/latest.json and latest.md.

    python -m benchmarks.run            # the full suite (20,000-resource patient, 30 s loads)
    python -m benchmarks.run --quick    # a development run (smaller sizes, short loads)
    python -m benchmarks.run --only B1,B3
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class Suite:
    def __init__(self, quick: bool):
        self.quick = quick
        self.size = 4_000 if quick else 20_000
        self.small = 200
        self.repeats = 2 if quick else 3
        self.results: dict[str, dict] = {}

    def report(self, key, *, value, unit, baseline=None, ratio=None, goal=None, met=None, **extra):
        self.results[key] = {
            "value": _round(value),
            "baseline": _round(baseline),
            "ratio": _round(ratio),
            "goal": goal,
            "met": met,
            "unit": unit,
            **{k: _round(v) for k, v in extra.items()},
        }
        mark = "   " if met is None else (" ok" if met else " NO")
        print(f"{mark} {key:4} {_round(value)} {unit}  ratio={_round(ratio)}  goal: {goal}")


def _round(value):
    if isinstance(value, float):
        return round(value, 4 if abs(value) < 10 else 1)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B3")
    args = parser.parse_args(argv)
    only = {part.strip().upper() for part in args.only.split(",") if part.strip()}

    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    from benchmarks import world

    print("Setting up: a fresh database, gunicorn, mock hospitals…", flush=True)
    world.create_database()
    import django

    django.setup()
    from django.core.cache import cache

    cache.clear()
    from benchmarks import cases

    suite = Suite(args.quick)
    info = machine()
    started = time.monotonic()
    with world.Server() as server:
        cases.run_all(suite, server, only)
    info["load_average_at_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - started)
    write(suite, info, quick=args.quick)
    missed = [key for key, result in suite.results.items() if result["met"] is False]
    print(f"{len(suite.results) - len(missed)} of {len(suite.results)} met; not met: {missed}")
    return 0


def write(suite: Suite, info: dict, *, quick: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmarks": suite.results, "machine": info, "quick": quick}
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Benchmark results" + (" (quick run)" if quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, Python "
        f"{info['python']}; load average {info['load_average_at_start'][0]:.2f} at the start, "
        f"{info['load_average_at_end'][0]:.2f} at the end; {info['seconds']} s in all.",
        "",
        "| id | value | unit | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, result in suite.results.items():
        met = {True: "yes", False: "**no**", None: "—"}[result["met"]]
        lines.append(
            f"| {key} | {result['value']} | {result['unit']} | {result['baseline'] or '—'} | "
            f"{result['ratio'] if result['ratio'] is not None else '—'} | "
            f"{result['goal'] or '—'} | {met} |"
        )
    details = {
        key: {
            k: v
            for k, v in result.items()
            if k not in {"value", "baseline", "ratio", "goal", "met", "unit"}
        }
        for key, result in suite.results.items()
    }
    lines += ["", "Details:", ""]
    for key, extra in details.items():
        if extra:
            lines.append(f"- **{key}**: " + "; ".join(f"{k} = {v}" for k, v in extra.items()))
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print(f"Wrote {RESULTS / 'latest.json'} and latest.md")


if __name__ == "__main__":
    sys.exit(main())

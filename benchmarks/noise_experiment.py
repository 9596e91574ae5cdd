"""Issue 14's experiment: do trained QPG weights survive being regenerated on a (fake) IBM device?

Trains the demo's chunked QPG model three ways — exact probabilities, ``--shots S``, and ``--noise DEVICE --shots S``
(the device's noise in the torch engine) — then regenerates every QPG layer's weights on each evaluation device at
S shots with readout mitigation ``none`` and ``m3`` (``hqctf evaluate --weights-from``), and prints one markdown
table: kidney Dice on the test split with exact weights and with regenerated ones, the gap, and the estimated QPU
seconds of the hardware trial (``hqctf circuit-report --json``: ``qpu_seconds``).

It drives the ``hqctf`` command line, so it measures exactly what a user would run. Finished trainings and
evaluations are reused (delete ``--out`` to start over); everything it runs is printed first.

    python benchmarks/noise_experiment.py --out runs/noise-experiment            # ~1 h on a 2-core CPU
    python benchmarks/noise_experiment.py --out /tmp/ne --epochs 2 --quick       # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

HQCTF = str(Path(sys.executable).with_name("hqctf"))
TRAININGS = {  # name -> extra `hqctf train` options (the --shots value is filled in)
    "exact": [],
    "shots": ["--shots", "{shots}"],
    "noise": ["--noise", "{noise}", "--shots", "{shots}"],
}


def run(command: list[str]) -> str:
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return result.stdout


def train(out: Path, name: str, args: argparse.Namespace) -> Path:
    run_dir = out / f"train-{name}"
    if (run_dir / "summary.json").is_file():
        return run_dir
    extra = [part.format(shots=args.shots, noise=args.noise) for part in TRAININGS[name]]
    command = [HQCTF, "train", "--mapping", "chunked", "--epochs", str(args.epochs), "--seed", str(args.seed),
               "--out", str(run_dir), *args.train_option, *extra]
    if run_dir.exists():
        command = [HQCTF, "train", "--resume", str(run_dir)]
    run(command)
    return run_dir


def evaluate(run_dir: Path, device: str, mitigation: str, args: argparse.Namespace) -> dict:
    out = run_dir / "eval" / f"test-{device}-{args.shots}-{mitigation}"
    if not (out / "summary.json").is_file():
        run([HQCTF, "evaluate", str(run_dir), "--split", "test", "--weights-from", device, "--shots",
             str(args.shots), "--mitigation", mitigation, "--seed", str(args.seed), "--out", str(out)])
    return json.loads((out / "summary.json").read_text())


def qpu_seconds(run_dir: Path, device: str, args: argparse.Namespace) -> float:
    report = json.loads(run([HQCTF, "circuit-report", "--config", str(run_dir / "config.yaml"), "--backend", device,
                             "--shots", str(args.shots), "--json", "-"]))
    return float(report["totals"]["qpu_seconds"]["unpacked"]["trial"])  # evaluate --weights-from runs unpacked


def step_seconds(run_dir: Path) -> float:
    """Median training seconds per optimizer step over the run's epochs (metrics.csv: epoch_seconds, and "step",
    the optimizer steps taken by the epoch's end)."""
    with (run_dir / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps_before = [0] + [int(row["step"]) for row in rows[:-1]]
    per_step = sorted(float(row["epoch_seconds"]) / max(1, int(row["step"]) - before)
                      for row, before in zip(rows, steps_before))
    return per_step[len(per_step) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--shots", type=int, default=4096)
    parser.add_argument("--noise", default="fake_brisbane", help="the device trained for")
    parser.add_argument("--devices", default="fake_brisbane,fake_fez", help="the devices weights are regenerated on")
    parser.add_argument("--mitigations", default="none,m3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="only the exact and noise trainings")
    parser.add_argument("--train-option", action="append", default=[], help="extra `hqctf train` option (repeat)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    names = ["exact", "noise"] if args.quick else list(TRAININGS)
    runs = {name: train(args.out, name, args) for name in names}
    devices, mitigations = args.devices.split(","), args.mitigations.split(",")
    qpu = {device: qpu_seconds(runs["exact"], device, args) for device in devices}
    rows = []
    for name, run_dir in runs.items():
        for device in devices:
            for mitigation in mitigations:
                summary = evaluate(run_dir, device, mitigation, args)
                exact, sampled = summary["mean"]["dice_kidney"], summary["sampled_mean"]["dice_kidney"]
                rows.append((name, device, mitigation, exact, sampled, sampled - exact, qpu[device]))
    print()
    print(f"| training | regenerated on | mitigation | kidney Dice, exact weights | regenerated, {args.shots} shots "
          "| difference | QPU s (trial, estimate) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, device, mitigation, exact, sampled, gap, seconds in rows:
        print(f"| {name} | {device} | {mitigation} | {exact:.3f} | {sampled:.3f} | {gap:+.3f} | {seconds:,.0f} |")
    base = step_seconds(runs["exact"])
    for name, run_dir in runs.items():
        print(f"training step cost {name}: {step_seconds(run_dir) / base:.2f}x exact")
    print(f"whole experiment: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

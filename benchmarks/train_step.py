"""Training-step overhead of QPG and low-rank layers against classical training, measured in one run.

One step = forward + backward + AdamW step of Unet-resnet18 (3 classes, cross-entropy) on a batch of 8x1x128x128,
torch threads = cores. Configurations:

- ``classical``: the plain smp model.
- ``qpg-default``: ``apply_qpg(model, "decoder", AnsatzSpec(reps=2), mapping="affine")`` (the training default).
- ``qpg-all``: the same on every conv (``"all"``).
- ``lowrank-decoder``: ``apply_lowrank(model, "decoder", budget=...)`` at the default QPG model's layer budget.
- ``qpg-chunked`` / ``qpg-chunked-shots``: the decoder with ``mapping="chunked"`` (circuits of 3-8 qubits, the
  hardware-trial model), exact and with ``--shots 4096`` on the torch engine (sampled forward, exact gradient);
  goal: the shots step <= 1.10x the exact one.
- ``qpg-chunked-noise``: the same with ``--noise fake_brisbane --shots 4096`` (the device's noise as an exact
  density matrix of each ISA circuit, ``engines.noisy``); goal: <= 1.50x qpg-chunked (exact).

The configurations are interleaved (every round times one step of each, in a rotated order), so drift in machine
speed hits all of them equally; the median per configuration is reported with its ratio to classical. Timings are
only meaningful on an idle machine (another process on one of two cores slows torch 3-100x): the script waits for
the cores to go idle before it starts, measures the CPU other processes use during every round (machine busy time
from /proc/stat minus this process's CPU time), and discards and repeats rounds in which they used more than 0.25
core. When a goal is missed (or with ``--profile always``) it times each QPG layer's weight source on its own (engine
forward, engine forward+backward, mapping; best of k) and lists the step's most expensive torch ops.

Data pipeline (``--data-pipeline on``, the default; ``only`` runs just it): the qpg-default model's step fed by the
training DataLoader (phantom crops, default workers) with ``--augment none`` and ``default``, interleaved; goal:
default <= 1.10x none, with each item's in-process crop+augmentation cost as its profile (see data_pipeline.py).

Usage::

    python benchmarks/train_step.py [--quick] [--json results.json] [--profile auto|always|never]
                                    [--device cpu|cuda] [--batch 8] [--image-size 128]
                                    [--data-pipeline on|off|only] [--workers N] [--configs A,B]

``--configs qpg-chunked-noise`` times only that row with the rows its ratios need (classical, qpg-chunked).
"""

from __future__ import annotations

import os

# Quiet the profiler's C++ logging (kineto prints an error line when it looks for GPUs on a CPU-only machine);
# must be set before torch is imported.
os.environ.setdefault("KINETO_LOG_LEVEL", "5")

import argparse
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from hqctf_qiskit.circuits import AnsatzSpec
from hqctf_qiskit.lowrank import apply_lowrank
from hqctf_qiskit.models import build_model
from hqctf_qiskit.qpg import apply_qpg, qpg_layers
from hqctf_qiskit.weightgen import generated_layers, replaced_layer_parameters, trainable_parameters

SEED = 1234
BATCH, SIZE, CLASSES = 8, 128, 3  # the goals are defined for this batch
REPS = 2
GOALS = {"cpu": {"qpg-default": 1.15, "qpg-all": 1.5}, "cuda": {"qpg-default": 1.05, "qpg-all": 1.5}}
SHOTS = 4096
SHOTS_GOAL = 1.10  # qpg-chunked-shots against qpg-chunked (exact), any device
NOISE, NOISE_GOAL = "fake_brisbane", 1.50  # qpg-chunked-noise against qpg-chunked (exact), any device
BUSY_LIMIT = 0.25  # cores used by other processes above which timings are unreliable


@dataclass(frozen=True)
class Settings:
    warmup: int
    rounds: int  # rounds kept (on an idle machine)
    max_rounds: int  # rounds run at most, busy ones included
    idle_tries: int
    idle_wait_s: float
    profile_repeats: int


FULL = Settings(warmup=3, rounds=15, max_rounds=45, idle_tries=6, idle_wait_s=10.0, profile_repeats=7)
QUICK = Settings(warmup=1, rounds=5, max_rounds=15, idle_tries=3, idle_wait_s=5.0, profile_repeats=3)


@dataclass
class Result:
    name: str
    layers: int
    trainable: int
    times_s: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)


# -- machine load -----------------------------------------------------------------------------------------------
def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores from /proc/stat (Linux); None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def own_cpu_s() -> float:
    """CPU seconds used by this process (all threads)."""
    times = os.times()
    return times.user + times.system


class LoadMeter:
    """Average cores used by *other* processes between start() and stop(): machine busy time minus our own CPU
    (``own_cpu``: this process's CPU seconds; the data pipeline counts its DataLoader workers too)."""

    def __init__(self, own_cpu: Callable[[], float] = own_cpu_s) -> None:
        self.own_cpu = own_cpu

    def start(self) -> None:
        self.ticks, self.own, self.wall = cpu_ticks(), self.own_cpu(), time.perf_counter()

    def stop(self) -> float | None:
        ticks = cpu_ticks()
        if ticks is None or self.ticks is None:
            return None
        busy_s = (ticks[0] - self.ticks[0]) / os.sysconf("SC_CLK_TCK")
        return max(busy_s - (self.own_cpu() - self.own), 0.0) / max(time.perf_counter() - self.wall, 1e-9)


def busy_cores(interval_s: float = 1.0) -> float | None:
    """Cores kept busy by other processes over ``interval_s`` while this one sleeps."""
    meter = LoadMeter()
    meter.start()
    time.sleep(interval_s)
    return meter.stop()


def wait_until_idle(settings: Settings) -> list[float]:
    """Sample the load up to ``idle_tries`` times, waiting between busy samples; returns every sample taken."""
    samples: list[float] = []
    for attempt in range(settings.idle_tries):
        busy = busy_cores()
        if busy is None:
            break
        samples.append(round(busy, 2))
        if busy <= BUSY_LIMIT:
            break
        print(f"machine busy: other processes use {busy:.2f} cores (attempt {attempt + 1}/{settings.idle_tries})"
              + ("; waiting" if attempt + 1 < settings.idle_tries else ""))
        if attempt + 1 < settings.idle_tries:
            time.sleep(settings.idle_wait_s)
    return samples


# -- configurations ---------------------------------------------------------------------------------------------
def classical(model: nn.Module) -> None:
    """Leave the model classical."""


def qpg_default(model: nn.Module) -> None:
    apply_qpg(model, "decoder", AnsatzSpec(reps=REPS), mapping="affine")


def qpg_all(model: nn.Module) -> None:
    apply_qpg(model, "all", AnsatzSpec(reps=REPS), mapping="affine")


def qpg_chunked(model: nn.Module) -> None:
    apply_qpg(model, "decoder", AnsatzSpec(reps=REPS), mapping="chunked")


def qpg_chunked_shots(model: nn.Module) -> None:
    apply_qpg(model, "decoder", AnsatzSpec(reps=REPS), mapping="chunked",
              engine_options={"shots": SHOTS, "seed": SEED})


def qpg_chunked_noise(model: nn.Module) -> None:
    apply_qpg(model, "decoder", AnsatzSpec(reps=REPS), mapping="chunked",
              engine_options={"noise": NOISE, "shots": SHOTS, "seed": SEED})


def default_qpg_budget() -> int:
    """Trainable parameters in the default QPG model's replaced layers: the low-rank configuration's budget."""
    model = build_model("unet", "resnet18", classes=CLASSES)
    qpg_default(model)
    return replaced_layer_parameters(model)


def lowrank_decoder(budget: int) -> Callable[[nn.Module], None]:
    def apply(model: nn.Module) -> None:
        apply_lowrank(model, "decoder", budget=budget)

    return apply


def build(apply: Callable[[nn.Module], None], device: torch.device) -> nn.Module:
    torch.manual_seed(SEED)
    model = build_model("unet", "resnet18", classes=CLASSES)
    apply(model)
    return model.to(device).train()


def make_step(model: nn.Module, device: torch.device, batch: int = BATCH, size: int = SIZE) -> Callable[[], float]:
    """A closure that runs one training step on a fixed seeded batch and returns its wall time."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch, 1, size, size, generator=generator).to(device)
    y = torch.randint(0, CLASSES, (batch, size, size), generator=generator).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> float:
        sync()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        sync()
        return time.perf_counter() - start

    return step


def measure(configs: dict[str, Callable[[nn.Module], None]], settings: Settings, device: torch.device,
            batch: int = BATCH, size: int = SIZE) -> tuple[dict[str, Result], dict[str, nn.Module], list[float]]:
    """Warm up every configuration, then time interleaved rounds (one step each, order rotated every round).

    A round during which other processes used more than ``BUSY_LIMIT`` cores is discarded and repeated, up to
    ``max_rounds`` rounds in all; returns the results, the models and every round's measured load.
    """
    models, steps, results = {}, {}, {}
    for name, apply in configs.items():
        models[name] = build(apply, device)
        steps[name] = make_step(models[name], device, batch, size)
        results[name] = Result(name, len(generated_layers(models[name])), trainable_parameters(models[name]))
        for _ in range(settings.warmup):
            steps[name]()
    names, loads, rounds = list(configs), [], []
    meter = LoadMeter()
    for round_index in range(settings.max_rounds):
        shift = round_index % len(names)
        meter.start()
        rounds.append({name: steps[name]() for name in names[shift:] + names[:shift]})
        load = meter.stop()
        loads.append(load if load is not None else 0.0)
        if loads[-1] > BUSY_LIMIT:
            print(f"round {round_index + 1}: other processes used {load:.2f} cores -- discarded")
        if sum(load <= BUSY_LIMIT for load in loads) == settings.rounds:
            break
    kept = [times for times, load in zip(rounds, loads) if load <= BUSY_LIMIT]
    if len(kept) < settings.rounds:
        print(f"WARNING: only {len(kept)} of {settings.rounds} rounds ran on an idle machine")
    for times in kept or rounds:  # nothing clean: report the busy rounds, flagged by the warning
        for name, seconds in times.items():
            results[name].times_s.append(seconds)
    return results, models, loads


def selected_configs(option: str) -> set[str]:
    """The configurations ``--configs`` asks for, with the baselines their ratios need."""
    names = {name.strip() for name in option.split(",") if name.strip()} | {"classical"}
    if names & {"qpg-chunked-shots", "qpg-chunked-noise"}:
        names.add("qpg-chunked")
    return names


# -- reporting --------------------------------------------------------------------------------------------------
def goal_lines(results: dict[str, Result], device: str) -> tuple[list[str], bool]:
    base = results["classical"].median_s
    lines, missed = [], False
    for name, limit in GOALS[device].items():
        if name not in results:
            continue
        ratio = results[name].median_s / base
        verdict = "PASS" if ratio <= limit else "MISS"
        missed |= verdict == "MISS"
        lines.append(f"goal {name} <= {limit:.2f}x classical ({device}): {ratio:.3f}x -> {verdict}")
    relative_goals = (  # (row, its baseline row, limit, what the row runs)
        ("qpg-chunked-shots", "qpg-chunked", SHOTS_GOAL, f"{SHOTS} shots"),
        ("qpg-chunked-noise", "qpg-chunked", NOISE_GOAL, f"--noise {NOISE} --shots {SHOTS}"),
    )
    for name, baseline, limit, label in relative_goals:
        if name not in results:
            continue
        ratio = results[name].median_s / results[baseline].median_s
        verdict = "PASS" if ratio <= limit else "MISS"
        missed |= verdict == "MISS"
        lines.append(f"goal {name} ({label}) <= {limit:.2f}x {baseline} (exact): {ratio:.3f}x -> {verdict}")
    return lines, missed


def markdown_table(results: dict[str, Result]) -> str:
    base = results["classical"].median_s
    lines = ["| configuration | generated-weight layers | trainable params | median step (s) | IQR (s) | "
             "ratio to classical |", "|---|---:|---:|---:|---:|---:|"]
    for r in results.values():
        q = statistics.quantiles(r.times_s, n=4) if len(r.times_s) > 1 else [r.median_s] * 3
        lines.append(f"| {r.name} | {r.layers} | {r.trainable:,} | {r.median_s:.3f} | {q[2] - q[0]:.3f} | "
                     f"{r.median_s / base:.3f} |")
    return "\n".join(lines)


# -- profile ----------------------------------------------------------------------------------------------------
def best_time(fn: Callable[[], None], repeats: int, device: torch.device) -> float:
    """Fastest of ``repeats`` calls after one warm-up: the cost without interference from other processes."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def source_costs(model: nn.Module, repeats: int, device: torch.device) -> list[dict[str, object]]:
    """Per QPG layer, in ms: engine forward, engine forward+backward, mapping forward+backward (on fixed probs)."""
    rows = []
    for name, module in qpg_layers(model):
        gen = module.source
        probe = torch.randn(gen.channels, 2**gen.num_qubits, device=device)
        weight_probe = torch.randn(gen.channels, gen.fan_in, device=device)
        with torch.no_grad():
            fixed_probs = gen.probabilities()

        def engine_fwd() -> None:
            with torch.no_grad():
                gen.probabilities()

        def engine_fwd_bwd() -> None:
            (gen.probabilities() * probe).sum().backward()

        def mapping_fwd_bwd() -> None:
            (gen.mapping(fixed_probs.clone().requires_grad_(True)) * weight_probe).sum().backward()

        rows.append({
            "layer": name, "channels": gen.channels, "fan_in": gen.fan_in, "qubits": gen.num_qubits,
            "circuit_params": gen.engine.num_parameters,
            "engine_fwd_ms": 1e3 * best_time(engine_fwd, repeats, device),
            "engine_fwd_bwd_ms": 1e3 * best_time(engine_fwd_bwd, repeats, device),
            "mapping_fwd_bwd_ms": 1e3 * best_time(mapping_fwd_bwd, repeats, device),
        })
        gen.zero_grad(set_to_none=True)
    return rows


def op_profile(step: Callable[[], float], steps: int = 3, top: int = 15) -> list[dict[str, object]]:
    """The most expensive torch ops (self CPU time) over ``steps`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "calls": e.count // steps, "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
             "share": e.self_cpu_time_total / total} for e in events[:top]]


def print_profile(name: str, rows: list[dict[str, object]], ops: list[dict[str, object]], step_s: float,
                  base_s: float) -> None:
    engine = sum(r["engine_fwd_bwd_ms"] for r in rows)
    mapping = sum(r["mapping_fwd_bwd_ms"] for r in rows)
    print(f"\nprofile {name}: step {step_s * 1e3:.0f} ms, classical {base_s * 1e3:.0f} ms, overhead "
          f"{(step_s - base_s) * 1e3:.0f} ms; over {len(rows)} layers, each timed on its own (best of k): engine "
          f"fwd+bwd {engine:.0f} ms, mapping fwd+bwd {mapping:.0f} ms")
    print("| layer | channels | fan_in | qubits | P | engine fwd (ms) | engine fwd+bwd (ms) | mapping fwd+bwd (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: -r["engine_fwd_bwd_ms"])[:12]:
        print(f"| {r['layer']} | {r['channels']} | {r['fan_in']} | {r['qubits']} | {r['circuit_params']} | "
              f"{r['engine_fwd_ms']:.1f} | {r['engine_fwd_bwd_ms']:.1f} | {r['mapping_fwd_bwd_ms']:.1f} |")
    print(f"top torch ops of the {name} step (self CPU time):")
    for op in ops:
        print(f"  {op['op']:<40} {op['calls']:>5} calls {op['self_ms_per_step']:8.1f} ms/step {op['share']:6.1%}")


# -- main -------------------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer warm-up steps, rounds and idle checks")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="profile the QPG configurations: when a goal is missed (auto), always, or never")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=int, default=BATCH, help="batch size (the goals are defined for 8)")
    parser.add_argument("--image-size", type=int, default=SIZE, help="image side (the goals are defined for 128)")
    parser.add_argument("--data-pipeline", choices=("on", "off", "only"), default="on",
                        help="also time the step fed by the training loader with --augment none and default "
                             "(the qpg-default model), skip that, or time only that")
    parser.add_argument("--configs", default=None, metavar="A,B",
                        help="time only these configurations (classical, the ratios' base, and the baseline of a "
                             "relative goal are always added), e.g. qpg-chunked-noise")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of the data-pipeline rows (default: training's default)")
    return parser.parse_args()


def load_summary(idle_samples: list[float], round_loads: list[float], rounds: int) -> dict[str, object]:
    """Other processes' load before and during timing, and a warning when too few rounds ran on an idle machine."""
    kept = [load for load in round_loads if load <= BUSY_LIMIT]
    warning = None
    if len(kept) < rounds:
        warning = (f"WARNING: only {len(kept)} of {len(round_loads)} rounds ran with other processes under "
                   f"{BUSY_LIMIT} cores: the numbers are unreliable -- rerun on an idle machine")
    return {"before_timing": idle_samples, "rounds": round_loads, "kept_rounds": len(kept),
            "kept_rounds_mean": statistics.mean(kept) if kept else None, "limit": BUSY_LIMIT, "warning": warning}


def print_results(results: dict[str, Result], load: dict[str, object], goals: list[str], budget: int) -> None:
    base = results["classical"].median_s
    for r in results.values():
        print(f"{r.name:<16} median {r.median_s * 1e3:8.1f} ms  ratio {r.median_s / base:6.3f}  "
              f"({r.layers} generated-weight layers, {r.trainable:,} trainable)")
    mean = load["kept_rounds_mean"]
    print(f"load of other processes (cores) before timing: {load['before_timing']}; during the {load['kept_rounds']} "
          f"kept rounds: {'n/a' if mean is None else f'{mean:.2f}'} on average; "
          f"{len(load['rounds']) - load['kept_rounds']} busy rounds discarded")
    if load["warning"]:
        print(load["warning"])
    print("\n".join(goals))
    print(f"low-rank budget (default QPG layers' trainable parameters): {budget:,}")
    print()
    print(markdown_table(results))


def run_data_pipeline(args: argparse.Namespace, settings: Settings, device: torch.device,
                      model: nn.Module) -> dict[str, object]:
    """The data-pipeline rows (see data_pipeline.py): printed, and returned for the JSON file."""
    from data_pipeline import measure_pipeline, own_cpu_with_workers_s, print_pipeline

    report = measure_pipeline(model, device, batch=args.batch, patch_size=args.image_size, seed=SEED,
                              rounds=settings.rounds, max_rounds=settings.max_rounds, busy_limit=BUSY_LIMIT,
                              meter=LoadMeter(own_cpu_with_workers_s), workers=args.workers)
    print_pipeline(report, BUSY_LIMIT)
    return {**report, "results": {n: {**asdict(r), "median_s": r.median_s} for n, r in report["results"].items()}}


def main() -> None:
    """Wait for an idle machine, time the configurations interleaved, print goals and table, profile on a miss."""
    args = parse_args()
    settings = QUICK if args.quick else FULL
    device = torch.device(args.device)
    threads = cpu_count()
    torch.set_num_threads(threads)
    started = time.perf_counter()
    print(f"training step: Unet-resnet18, batch {args.batch}x1x{args.image_size}x{args.image_size}, {CLASSES} "
          f"classes, CE + AdamW, {device.type}, torch threads {threads}, {settings.rounds} interleaved rounds")
    idle_samples = wait_until_idle(settings)
    if args.data_pipeline == "only":
        run_data_pipeline(args, settings, device, build(qpg_default, device))
        print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")
        return
    budget = default_qpg_budget()
    configs = {"classical": classical, "qpg-default": qpg_default, "qpg-all": qpg_all,
               "lowrank-decoder": lowrank_decoder(budget), "qpg-chunked": qpg_chunked,
               "qpg-chunked-shots": qpg_chunked_shots, "qpg-chunked-noise": qpg_chunked_noise}
    if args.configs:
        wanted = selected_configs(args.configs)
        configs = {name: build for name, build in configs.items() if name in wanted}
    results, models, round_loads = measure(configs, settings, device, args.batch, args.image_size)
    load = load_summary(idle_samples, round_loads, settings.rounds)
    goals, missed = goal_lines(results, device.type)
    if (args.batch, args.image_size) != (BATCH, SIZE):
        goals = [f"{line} (goal defined for {BATCH}x1x{SIZE}x{SIZE}, measured {args.batch}x1x{args.image_size}x"
                 f"{args.image_size})" for line in goals]
    print_results(results, load, goals, budget)
    profiles = {}
    if args.profile == "always" or (args.profile == "auto" and missed):
        for name in [n for n in ("qpg-default", "qpg-all") if n in models]:
            rows = source_costs(models[name], settings.profile_repeats, device)
            step = make_step(models[name], device, args.batch, args.image_size)
            ops = op_profile(step) if device.type == "cpu" else []
            profiles[name] = {"layers": rows, "ops": ops}
            print_profile(name, rows, ops, results[name].median_s, results["classical"].median_s)
    pipeline = None
    if args.data_pipeline == "on" and "qpg-default" in models:
        pipeline = run_data_pipeline(args, settings, device, models["qpg-default"])
    total_s = time.perf_counter() - started
    print(f"\ntotal benchmark time {total_s:.0f} s")
    if args.json:
        base = results["classical"].median_s
        payload = {
            "environment": {
                "python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
                "cpu_count": os.cpu_count(), "torch_threads": threads, "device": device.type, "quick": args.quick,
                "seed": SEED, "reps": REPS, "batch": args.batch, "image_size": args.image_size,
            },
            "settings": asdict(settings),
            "load": load,
            "lowrank_budget": budget,
            "results": {n: {**asdict(r), "median_s": r.median_s, "ratio": r.median_s / base}
                        for n, r in results.items()},
            "goals": goals,
            "profile": profiles,
            "data_pipeline": pipeline,
            "total_s": total_s,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

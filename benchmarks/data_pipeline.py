"""The data pipeline's cost in a training step: ``--augment none`` against ``default``, through the training loader.

Used by ``train_step.py`` (its data-pipeline rows; ``--data-pipeline only`` runs just these). Settings of the demo:
the phantom's training cases at their median spacing, ``--patch-size 128`` crops drawn as training draws them
(foreground-biased sampler, item seeds), the training DataLoader (:func:`hqctf_qiskit.training.loader.train_loader`
with the default workers) feeding the given model's step (forward + backward + AdamW, batch 8).

Each round runs one short "epoch" of ``steps`` batches per configuration, a fresh loader each as training makes one
per epoch (worker start-up included, equally in both), in a rotated order; the time per step is the round's time
over its steps. Worker processes are this process's children: their CPU counts as our own, not as other load.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from hqctf_qiskit.config import TrainConfig
from hqctf_qiskit.data import SliceDataset, make_sampler, with_item_seeds
from hqctf_qiskit.data.augment import make_augmenter
from hqctf_qiskit.training.datasetup import discover, load_cases, resolve_spacing, resolve_splits
from hqctf_qiskit.training.loader import default_workers, train_loader

AUGMENTS = ("none", "default")
GOAL = 1.10  # default against none
FOREGROUND_FRACTION = 0.5  # the training default


@dataclass
class PipelineResult:
    name: str
    times_s: list[float] = field(default_factory=list)  # per step

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)


def phantom_train_set(patch_size: int, seed: int) -> tuple[SliceDataset, list[str]]:
    """The training split of the default phantom, prepared as a run prepares it; and the class names."""
    config = TrainConfig.from_flat({"patch_size": patch_size, "seed": seed}, source="benchmark")
    cases = discover(config)
    splits = resolve_splits(config, cases, None)
    train = load_cases(config, cases, splits["train"], "train")
    config = resolve_spacing(config, train + load_cases(config, cases, splits["val"], "val"))
    data = config.data
    return SliceDataset(train, patch_size, tuple(data.window), spacing=data.inplane_spacing), list(data.classes)


def epoch_keys(dataset: SliceDataset, samples: int, seed: int) -> list[tuple[int, int]]:
    """An epoch's (slice index, item seed) keys, drawn as training draws them."""
    return with_item_seeds(list(make_sampler(dataset, FOREGROUND_FRACTION, samples, seed)), seed)


def own_cpu_with_workers_s() -> float:
    """CPU seconds of this process and its finished children (the loader's workers, joined at the epoch's end)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def item_cost_ms(dataset: SliceDataset, augmenter, keys: list[tuple[int, int]]) -> float:
    """Mean cost of one item's crop and augmentation, in this process (the profile of the pipeline)."""
    dataset.augment = augmenter
    start = time.perf_counter()
    for key in keys:
        dataset[key]
    return 1e3 * (time.perf_counter() - start) / len(keys)


def measure_pipeline(model: nn.Module, device: torch.device, *, batch: int, patch_size: int, seed: int,
                     rounds: int, max_rounds: int, busy_limit: float, meter, steps: int = 6,
                     workers: int | None = None) -> dict[str, object]:
    """Time ``steps``-batch epochs of ``model`` fed by the loader with each augmentation, interleaved.

    ``meter``: train_step's LoadMeter (``start()``/``stop()`` -> cores used by other processes), counting the
    workers' CPU as ours (:func:`own_cpu_with_workers_s`). Rounds where others used more than ``busy_limit`` cores are discarded and repeated,
    up to ``max_rounds``.
    """
    dataset, classes = phantom_train_set(patch_size, seed)
    augmenters = {name: make_augmenter(name, classes) for name in AUGMENTS}
    workers = default_workers() if workers is None else workers
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def epoch(name: str, keys: list[tuple[int, int]]) -> float:
        dataset.augment = augmenters[name]
        sync()
        start = time.perf_counter()
        for images, labels in train_loader(dataset, keys, batch, workers, pin_memory=device.type == "cuda"):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images.to(device)), labels.to(device)).backward()
            optimizer.step()
        sync()
        return (time.perf_counter() - start) / steps

    def keys_of(round_index: int) -> list[tuple[int, int]]:  # the same items for both, new ones every round
        return epoch_keys(dataset, batch * steps, seed + round_index)

    for name in AUGMENTS:  # warm-up: first loader, first augmentation
        epoch(name, keys_of(-1))
    rounds_run: list[dict[str, float]] = []
    loads: list[float] = []
    for round_index in range(max_rounds):
        keys = keys_of(round_index)
        order = AUGMENTS[round_index % 2:] + AUGMENTS[:round_index % 2]
        meter.start()
        rounds_run.append({name: epoch(name, keys) for name in order})
        load = meter.stop()
        loads.append(load if load is not None else 0.0)
        if loads[-1] > busy_limit:
            print(f"data pipeline round {round_index + 1}: other processes used {loads[-1]:.2f} cores -- discarded")
        if sum(v <= busy_limit for v in loads) == rounds:
            break
    kept = [times for times, load in zip(rounds_run, loads) if load <= busy_limit]
    results = {name: PipelineResult(name) for name in AUGMENTS}
    for times in kept or rounds_run:  # nothing clean: report the busy rounds, flagged by print_pipeline
        for name, seconds in times.items():
            results[name].times_s.append(seconds)
    profile = {name: item_cost_ms(dataset, augmenters[name], keys_of(10_000)[:64]) for name in AUGMENTS}
    ratio = results["default"].median_s / results["none"].median_s
    return {"workers": workers, "steps_per_round": steps, "batch": batch, "patch_size": patch_size,
            "results": results, "ratio": ratio, "loads": loads, "kept_rounds": len(kept), "item_ms": profile,
            "goal": f"goal data pipeline: augment default <= {GOAL:.2f}x none: {ratio:.3f}x -> "
                    f"{'PASS' if ratio <= GOAL else 'MISS'}"}


def print_pipeline(report: dict[str, object], busy_limit: float) -> None:
    results = report["results"]
    base = results["none"].median_s
    print(f"\ndata pipeline: phantom, patch {report['patch_size']}, batch {report['batch']}, {report['workers']} "
          f"DataLoader workers, {report['steps_per_round']} steps per loader")
    print("| augment | median step incl. loader (s) | ratio to none | item crop+augment in-process (ms) |")
    print("|---|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result.median_s:.3f} | {result.median_s / base:.3f} | {report['item_ms'][name]:.2f} |")
    loads = report["loads"]
    if report["kept_rounds"] < len(loads):
        print(f"WARNING: {len(loads) - report['kept_rounds']} of {len(loads)} data-pipeline rounds ran with other "
              f"processes above {busy_limit} cores (mean {statistics.mean(loads):.2f}): the ratio is unreliable")
    print(report["goal"])

"""``hqctf experiment``: classical vs low-rank vs QPG (each mapping) over architectures and seeds, one patient split.

A grid of ordinary training runs (each a run folder of its own, resumable: finished runs are skipped), each then
evaluated on the shared test split in 3D per case; ``results`` summarises them as mean ± sd over seeds. Every cell's
run config is built through the config schema, so a bad option in the spec fails before the first run trains.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ..config import TrainConfig, read_yaml_mapping
from ..config.messages import config_error
from ..io import atomic_write_text
from ..training.checkpoint import checkpoint_path
from ..training.datasetup import discover, resolve_splits, write_splits
from ..training.ownership import LOCK_NAME
from ..training.runs import runs_root
from .results import collect_results, evaluation_of, run_dir_of, write_results

log = logging.getLogger(__name__)

METHODS = ("classical", "lowrank", "qpg-affine", "qpg-qt", "qpg-chunked")
EVALUATE_SPLITS = ("val", "test", "train", "all")
SMALL_PRESET: dict[str, Any] = {
    "architectures": ["unet", "unetplusplus", "deeplabv3plus", "fpn", "pspnet"],
    "methods": list(METHODS),
    "seeds": [0, 1, 2],
    "train": {"image_size": 64, "epochs": 6, "samples_per_epoch": 96, "batch_size": 8, "reps": 1, "lr": 3e-3},
}


class ExperimentSpec(BaseModel):
    """An experiment file: the grid (architectures × methods × seeds), the layers replaced, and ``train``: any
    ``hqctf train`` option shared by every run (flat keys, as in a ``--config`` file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "experiment"
    out: str | None = None  # default: <runs root>/experiments/<name>
    data: str | None = None
    layers: str = "decoder"
    architectures: list[str] = Field(default_factory=lambda: list(SMALL_PRESET["architectures"]))
    methods: list[str] = Field(default_factory=lambda: list(METHODS))
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    split_seed: int = 0
    evaluate_split: str = "test"
    train: dict[str, Any] = Field(default_factory=dict)
    _source: str = PrivateAttr(default="experiment")  # the spec file, to name it in messages

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        bad = [m for m in methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
        return methods

    @field_validator("architectures", "methods", "seeds")
    @classmethod
    def _not_empty(cls, values: list[Any]) -> list[Any]:
        if not values:
            raise ValueError("must not be empty")
        return values

    @field_validator("evaluate_split")
    @classmethod
    def _known_split(cls, split: str) -> str:
        if split not in EVALUATE_SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {', '.join(EVALUATE_SPLITS)}")
        return split

    @classmethod
    def from_yaml(cls, path: Path, small: bool = False) -> "ExperimentSpec":
        """The spec in ``path`` (``small``: the CPU-sized preset over it); every grid cell's config is validated."""
        path = Path(path)
        data = read_yaml_mapping(path, "", "name, architectures, methods, seeds, train, ...")
        if small:
            data = {**data, **{k: v for k, v in SMALL_PRESET.items() if k != "train"},
                    "train": {**(data.get("train") or {}), **SMALL_PRESET["train"]}}
        data.setdefault("out", None)
        data.setdefault("name", cls.model_fields["name"].default)
        data["out"] = data["out"] or str(runs_root() / "experiments" / str(data["name"]))
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, lambda key: f"{path}: {key}", {(k,): k for k in cls.model_fields}) from None
        spec._source = str(path)
        for arch in spec.architectures:  # fail before hours of training, not in the middle
            spec.run_config(arch, spec.methods[0], spec.seeds[0], Path("."))
        return spec

    def run_config(self, arch: str, method: str, seed: int, run_dir: Path, splits: Path | None = None) -> TrainConfig:
        """The config of one grid cell: the shared ``train`` options, then the cell's and the method's switches.

        Messages name the spec key a bad value came from (``exp.yaml: train: epochs``, ``exp.yaml: architectures``).
        """
        values: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for written, value in self.train.items():
            key = str(written).replace("-", "_")
            values[key], labels[key] = value, f"{self._source}: train: {written}"
        cell = {"arch": (arch, "architectures"), "seed": (seed, "seeds"), "data": (self.data, "data"),
                "out": (str(run_dir), "out"), "splits": (str(splits) if splits else None, "split_seed")}
        switches: dict[str, Any] = {"qpg_layers": "none", "lowrank_layers": "none"}
        if method == "lowrank":
            switches.update(lowrank_layers=self.layers, rank_budget="qpg")
        elif method != "classical":
            switches.update(qpg_layers=self.layers, mapping=method.split("-", 1)[1])
        for key, (value, spec_key) in cell.items():
            values[key], labels[key] = value, f"{self._source}: {spec_key}"
        for key, value in switches.items():
            values[key], labels[key] = value, f"{self._source}: layers (method {method})"
        return TrainConfig.from_flat(values, source=labels)

    def to_yaml(self) -> str:
        """``experiment.yaml`` in the experiment folder: the spec as run (after presets and defaults)."""
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def _prepare_run(run_dir: Path) -> str:
    """'done' (skip), 'resume', or 'new'.

    A run with its config resumes: from its latest checkpoint, or from step 0 when it was killed before the first one
    (``train --resume`` does that, and refuses while another process owns the folder). Only a folder that never got
    as far as its config, and that no process holds, is cleared for a new start.
    """
    if (run_dir / "summary.json").is_file() and checkpoint_path(run_dir, "final").is_file():
        return "done"
    if (run_dir / "config.yaml").is_file():
        return "resume"
    if run_dir.exists() and not (run_dir / LOCK_NAME).exists():
        shutil.rmtree(run_dir)  # nothing of the run was written yet, so nothing is lost
    return "new"


def run_experiment(spec: ExperimentSpec) -> dict[str, Any]:
    """Train and evaluate every cell not finished yet, then write results.csv/md/json/png."""
    from ..evaluation.evaluate import evaluate_run
    from ..training.loop import train

    root = Path(spec.out)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "experiment.yaml", spec.to_yaml())
    splits_file = root / "splits.json"
    if not splits_file.is_file():
        base = spec.run_config(spec.architectures[0], "classical", spec.split_seed, root)
        write_splits(resolve_splits(base, discover(base), None), root)
    cells = [(a, m, s) for a in spec.architectures for m in spec.methods for s in spec.seeds]
    started = time.perf_counter()
    for index, (arch, method, seed) in enumerate(cells, 1):
        run_dir = run_dir_of(root, arch, method, seed)
        status = _prepare_run(run_dir)
        log.info("[%d/%d] %s %s seed %d: %s", index, len(cells), arch, method, seed,
                 {"done": "finished, skipped", "resume": "resuming", "new": "training"}[status])
        if status == "new":
            train(spec.run_config(arch, method, seed, run_dir, splits_file))
        elif status == "resume":
            train(None, resume=run_dir)
        if not (evaluation_of(run_dir, spec) / "summary.json").is_file():  # evaluations appear whole
            evaluate_run(run_dir, split=spec.evaluate_split, device="auto")
    results = collect_results(spec, root)
    write_results(results, root, spec)
    log.info("experiment %s: %d runs in %.0f s", spec.name, len(cells), time.perf_counter() - started)
    return {"out": str(root), "runs": len(cells), "rows": results}


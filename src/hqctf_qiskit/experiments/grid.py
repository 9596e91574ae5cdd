"""``hqctf experiment``: classical vs low-rank vs QPG (each mapping) and the two controls, over architectures, seeds
and optionally patient folds, on one patient split.

A grid of ordinary training runs (each a run folder of its own, resumable: finished runs are skipped), each then
evaluated on the shared test split in 3D per case; ``results`` summarises them as mean ± sd over the runs and compares
each method with the classical model over paired cases (``stats``). Every cell's run config is built through the
config schema, so a bad option in the spec fails before the first run trains.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ..config import ConfigError, TrainConfig, read_yaml_mapping
from ..config.schema import ALIASES
from ..config.messages import config_error
from ..io import atomic_write_text
from ..training.datasetup import discover, resolve_splits, write_splits
from ..training.runs import runs_root
from .launchers import Launcher, LocalLauncher
from .results import collect_results, run_dir_of, write_results

log = logging.getLogger(__name__)

# Each method is a set of `hqctf train` switches over the spec's layers (LAYERS stands for `layers:`). The two
# controls keep QPG-affine's trainable parameters per layer and its mapping and change one thing each:
# `qpg-affine-product` drops the entangling gates (a product-state distribution), `hypernet-affine` replaces the
# circuit by a classical map (a fixed random projection and a softmax, hypernet/source.py).
LAYERS = "<layers>"
METHODS: dict[str, dict[str, Any]] = {
    "classical": {},
    "lowrank": {"lowrank_layers": LAYERS, "rank_budget": "qpg"},
    "qpg-affine": {"qpg_layers": LAYERS, "mapping": "affine"},
    "qpg-qt": {"qpg_layers": LAYERS, "mapping": "qt"},
    "qpg-chunked": {"qpg_layers": LAYERS, "mapping": "chunked"},
    "qpg-affine-product": {"qpg_layers": LAYERS, "mapping": "affine", "entanglement": "none"},
    "hypernet-affine": {"qpg_layers": LAYERS, "mapping": "affine", "generator": "hypernet"},
}
EVALUATE_SPLITS = ("val", "test", "train", "all")
# `--small` when the spec file has no `small:` block of its own
SMALL_PRESET: dict[str, Any] = {
    "architectures": ["unet", "unetplusplus", "deeplabv3plus", "fpn", "pspnet"],
    "methods": list(METHODS),
    "seeds": [0, 1, 2],
    "train": {"patch_size": 64, "epochs": 6, "samples_per_epoch": 96, "batch_size": 8, "reps": 1, "lr": 3e-3},
}


class Cell(NamedTuple):
    """One grid cell: an ordinary training run, then its evaluation. ``fold`` is None without cross-validation.

    A tuple, so ``run_dir_of(root, *cell)`` works; the spec builds its config with :meth:`ExperimentSpec.cell_config`.
    """

    arch: str
    method: str
    seed: int
    fold: int | None = None

    @property
    def name(self) -> str:
        """``unet/qpg-affine/seed0`` (``.../seed0-fold1`` with folds): its run folder under the experiment folder."""
        return run_dir_of(Path(), *self).as_posix()


class ExperimentSpec(BaseModel):
    """An experiment file: the grid (architectures × methods × seeds [× folds]), the layers replaced, and ``train``:
    any ``hqctf train`` option shared by every run (flat keys, as in a ``--config`` file).

    ``folds: K``: patient-level K-fold cross-validation of the non-test cases (the test split is held out as in a
    plain run); every (architecture, method, seed) cell then runs once per fold. A ``small:`` block in the file holds
    the overrides ``--small`` applies (default :data:`SMALL_PRESET`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "experiment"
    out: str | None = None  # default: <runs root>/experiments/<name>
    data: str | None = None
    layers: str = "decoder"
    architectures: list[str] = Field(default_factory=lambda: list(SMALL_PRESET["architectures"]))
    methods: list[str] = Field(default_factory=lambda: list(METHODS))
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    folds: int | None = Field(default=None, ge=2)
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
        """The spec in ``path`` (``small``: its ``small:`` block, or :data:`SMALL_PRESET`, over it; the default
        folder then ends in ``-small``); every grid cell's config is validated."""
        path = Path(path)
        data = read_yaml_mapping(path, "", "name, architectures, methods, seeds, folds, train, small, ...")
        preset = _small_block(data.pop("small", None), path)
        if small:
            data = _with_overrides(data, SMALL_PRESET if preset is None else preset)
        data.setdefault("out", None)
        data.setdefault("name", cls.model_fields["name"].default)
        # the small grid's cells have the full grid's folder names: they must not be taken for finished full cells
        default_out = runs_root() / "experiments" / (str(data["name"]) + ("-small" if small else ""))
        data["out"] = data["out"] or str(default_out)
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, lambda key: f"{path}: {key}", {(k,): k for k in cls.model_fields}) from None
        spec._source = str(path)
        fold = 0 if spec.folds else None
        for arch in spec.architectures:  # fail before hours of training, not in the middle
            for method in spec.methods:
                spec.cell_config(Cell(arch, method, spec.seeds[0], fold), Path("."))
        return spec

    def cells(self) -> list[Cell]:
        """Every cell of the grid, architecture-major (then method, seed, fold): the order the local launcher runs."""
        folds: list[int | None] = list(range(self.folds)) if self.folds else [None]
        return [Cell(arch, method, seed, fold) for arch in self.architectures for method in self.methods
                for seed in self.seeds for fold in folds]

    def cell_config(self, cell: Cell, run_dir: Path, splits: Path | None = None) -> TrainConfig:
        """The config of ``cell``, trained in ``run_dir`` on the experiment's ``splits`` file."""
        return self.run_config(cell.arch, cell.method, cell.seed, run_dir, splits, fold=cell.fold)

    def split_config(self, root: Path) -> TrainConfig:
        """The config whose split every cell shares (seeded by ``split_seed``; with ``folds``, all K folds listed)."""
        return self.run_config(self.architectures[0], "classical", self.split_seed, root,
                               fold=0 if self.folds else None)

    def run_config(self, arch: str, method: str, seed: int, run_dir: Path, splits: Path | None = None,
                   fold: int | None = None) -> TrainConfig:
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
        if self.folds:
            cell.update(folds=(self.folds, "folds"), fold=(fold, "folds"))
        switches: dict[str, Any] = {"qpg_layers": "none", "lowrank_layers": "none"}
        switches.update({key: self.layers if value == LAYERS else value for key, value in METHODS[method].items()})
        for key, (value, spec_key) in cell.items():
            values[key], labels[key] = value, f"{self._source}: {spec_key}"
        for key, value in switches.items():
            values[key], labels[key] = value, f"{self._source}: layers (method {method})"
        return TrainConfig.from_flat(values, source=labels)

    def to_yaml(self) -> str:
        """``experiment.yaml`` in the experiment folder: the spec as run (after presets and defaults)."""
        return yaml.safe_dump(self.model_dump(), sort_keys=False)


def _small_block(block: Any, path: Path) -> dict[str, Any] | None:
    """A spec's own ``small:`` overrides, checked: a mapping of spec keys (``small`` itself excluded)."""
    if block is None:
        return None
    if not isinstance(block, dict):
        raise ConfigError(f"{path}: small: must be a mapping of spec keys (architectures, methods, seeds, train, ...)")
    allowed = set(ExperimentSpec.model_fields)
    for key in block:
        if key not in allowed:
            raise ConfigError(f"{path}: small: {key}: unknown option; choose from {', '.join(sorted(allowed))}")
    return block


def _train_keys(train: Any) -> Any:
    """``train`` options under their flat keys (dashes to underscores, old names to new), so two spellings of one
    option in a spec and its preset override each other instead of both reaching the schema."""
    if not isinstance(train, dict):
        return train  # the schema check says what is wrong with it
    return {ALIASES.get(str(k).replace("-", "_"), str(k).replace("-", "_")): v for k, v in train.items()}


def _with_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the preset's keys replaced, its ``train`` options merged over the spec's."""
    merged = {**data, **{k: v for k, v in overrides.items() if k != "train"}}
    if "train" in overrides:
        merged["train"] = {**(_train_keys(data.get("train")) or {}), **_train_keys(overrides["train"] or {})}
    return merged


def run_experiment(spec: ExperimentSpec, launcher: Launcher | None = None) -> dict[str, Any]:
    """Train and evaluate every cell not finished yet (``launcher``: where; default one after another here), then
    write results.csv/md/json/png. The split is written once, here, before any cell starts."""
    root = Path(spec.out)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "experiment.yaml", spec.to_yaml())
    splits_file = root / "splits.json"
    if not splits_file.is_file():
        base = spec.split_config(root)
        write_splits(resolve_splits(base, discover(base), None), root)
    cells = spec.cells()
    started = time.perf_counter()
    (launcher or LocalLauncher()).run(spec, root, splits_file, cells)
    results = collect_results(spec, root)
    write_results(results, root, spec)
    log.info("experiment %s: %d runs in %.0f s", spec.name, len(cells), time.perf_counter() - started)
    return {"out": str(root), "runs": len(cells), "rows": results}


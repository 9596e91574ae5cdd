"""The training configuration: every option with its default, loadable from YAML, saved with every run."""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CLASSES = ("background", "kidney", "tumor")


from ..errors import ConfigError  # noqa: E402  (re-exported: the option errors of the config)


@dataclass
class TrainConfig:
    # data
    data: str | None = None  # None: the embedded synthetic phantom (generated once, cached)
    classes: list[str] = field(default_factory=lambda: list(DEFAULT_CLASSES))
    label_map: str | None = None
    window: list[float] = field(default_factory=lambda: [-79.0, 304.0])
    image_size: int = 128
    foreground_fraction: float | None = 0.5
    splits: str | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    phantom_cases: int = 12
    # model
    arch: str = "unet"
    encoder: str = "resnet18"
    # QPG
    qpg_layers: str = "decoder"
    mapping: str = "affine"
    chunk: int = 32
    reps: int = 2
    rotation: str = "ry"
    entanglement: str = "linear"
    lowrank_layers: str = "none"  # the low-rank baseline: same selection syntax as qpg_layers
    rank: int | None = None  # fixed rank of low-rank layers, or ...
    rank_budget: str | None = None  # ... "qpg" (match the QPG budget of those layers) or a parameter count
    backend: str = "torch"
    shots: int | None = None  # None: exact probabilities
    gradient: str = "param-shift"  # sampler backends: param-shift or spsa
    pack: bool = False  # sampler backends: several channels per wide circuit
    optimization_level: int = 1
    # optimisation
    device: str = "auto"
    epochs: int = 10
    max_steps: int | None = None
    samples_per_epoch: int | None = None
    batch_size: int = 8
    lr: float = 1e-3
    qpg_lr: float = 1e-2
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    amp: bool = True
    seed: int = 0
    out: str | None = None

    # -- construction -----------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        unknown = set(data) - cls.field_names()
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(sorted(unknown))}")
        config = cls(**{k: v for k, v in data.items() if k != "versions"})
        config.validate()
        return config

    @classmethod
    def from_yaml(cls, path: str | Path) -> dict[str, Any]:
        """The options set in a YAML file (keys with dashes or underscores), to merge under CLI options."""
        path = Path(path)
        data = read_yaml_mapping(path, "--config: ", "option: value")
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        data.pop("versions", None)
        unknown = set(data) - cls.field_names()
        if unknown:
            raise ConfigError(f"--config: {path} has unknown option(s) {', '.join(sorted(unknown))}")
        return data

    def validate(self) -> None:
        from ..circuits.ansatz import ENTANGLEMENTS, ROTATION_BLOCKS
        from ..models import ARCHITECTURES
        from ..qpg.mappings import MAPPINGS

        def choice(option: str, value: str, choices) -> None:
            if value not in choices:
                raise ConfigError(f"--{option}: unknown value {value!r}; choose from {', '.join(choices)}")

        choice("arch", self.arch.lower(), list(ARCHITECTURES))
        choice("mapping", self.mapping, list(MAPPINGS))
        choice("entanglement", self.entanglement, list(ENTANGLEMENTS))
        choice("rotation", self.rotation, list(ROTATION_BLOCKS))
        choice("schedule", self.schedule, ["cosine", "poly", "constant"])
        choice("device", self.device, ["auto", "cpu", "cuda"])
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "image_size": self.image_size,
                    "chunk": self.chunk, "phantom_cases": self.phantom_cases}
        for option, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"--{option.replace('_', '-')}: must be >= 1, got {value}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps: must be >= 1, got {self.max_steps}")
        choice("gradient", self.gradient, ["param-shift", "spsa"])
        if self.shots is not None and self.shots < 1:
            raise ConfigError(f"--shots: must be >= 1, got {self.shots}")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ConfigError(f"--optimization-level: must be 0-3, got {self.optimization_level}")
        if self.rank is not None and self.rank < 1:
            raise ConfigError(f"--rank: must be >= 1, got {self.rank}")
        if self.rank_budget is not None and self.rank_budget != "qpg" and not str(self.rank_budget).isdigit():
            raise ConfigError(f"--rank-budget: 'qpg' or a number of parameters, got {self.rank_budget!r}")
        lowrank = self.lowrank_layers.strip().lower() not in ("", "none")
        if lowrank and (self.rank is None) == (self.rank_budget is None):
            raise ConfigError("--lowrank-layers: give exactly one of --rank N or --rank-budget qpg|N")
        if self.reps < 0:
            raise ConfigError(f"--reps: must be >= 0, got {self.reps}")
        if self.lr <= 0 or self.qpg_lr <= 0:
            raise ConfigError("--lr/--qpg-lr: learning rates must be positive")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"--classes: need at least two distinct class names, got {self.classes}")
        if len(self.window) != 2 or self.window[0] >= self.window[1]:
            raise ConfigError(f"--window: need LOW,HIGH with LOW < HIGH, got {self.window}")

    # -- output -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ansatz(self):
        from ..circuits.ansatz import AnsatzSpec

        return AnsatzSpec(reps=self.reps, rotation=self.rotation, entanglement=self.entanglement)

    def mapping_options(self) -> dict[str, Any]:
        return {"chunk": self.chunk} if self.mapping == "chunked" else {}

    def engine_options(self) -> dict[str, Any]:
        """Options for ``make_engine``: the exact torch engine takes shots only; sampler backends take all."""
        options: dict[str, Any] = {}
        if self.shots is not None:
            options.update(shots=self.shots, seed=self.seed)
        if self.backend != "torch":
            options.update(gradient=self.gradient, pack=self.pack, optimization_level=self.optimization_level,
                           seed=self.seed)
        return options

    @property
    def is_hardware(self) -> bool:
        return self.backend.startswith("ibm_")


def read_yaml_mapping(path: Path, prefix: str, what: str) -> dict[str, Any]:
    """A YAML file holding a mapping; missing, malformed or non-mapping files are one-line ConfigErrors."""
    if not path.is_file():
        raise ConfigError(f"{prefix}{path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{prefix}{path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}{path} must hold a mapping of {what}")
    return data


def library_versions() -> dict[str, str]:
    """Versions recorded with every run (reproducibility)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("hqctf-qiskit", "torch", "segmentation-models-pytorch", "qiskit", "qiskit-aer",
                    "qiskit-machine-learning", "qiskit-ibm-runtime", "nibabel", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def save_config(config: TrainConfig, path: Path) -> None:
    data = config.to_dict()
    data["versions"] = library_versions()
    from ..io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_run_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run folder (no config.yaml)")
    data = yaml.safe_load(path.read_text()) or {}
    data.pop("versions", None)
    return TrainConfig.from_dict(data, source=str(path))

"""Config files: a user's ``--config`` YAML, and the run folder's ``config.yaml`` (flat keys + library versions).

Both hold flat option keys, as run folders always have; a run folder's file also holds a ``versions`` block that
records the libraries it ran with (written for reproducibility, ignored when the config is read back).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, RunFolderError
from ..io import atomic_write_text
from .schema import TrainConfig

VERSIONS_KEY = "versions"
RUN_CONFIG = "config.yaml"
LEGACY_SPACING = "none"  # what a run folder or export without a spacing did: whole slices squeezed to the patch size


def read_yaml_mapping(path: Path, prefix: str, what: str) -> dict[str, Any]:
    """A YAML file holding a mapping; missing, malformed or non-mapping files are one-line ConfigErrors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{prefix}{path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{prefix}{path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix}{path} must hold a mapping of {what}")
    return data


def options_file(path: str | Path) -> tuple[dict[str, Any], str]:
    """The options of a ``--config`` file and the label naming them in messages (``--config: my.yaml``)."""
    data = read_yaml_mapping(Path(path), "--config: ", "option: value")
    data.pop(VERSIONS_KEY, None)  # a run folder's config.yaml may be given as --config
    return {str(k): v for k, v in data.items()}, f"--config: {path}"


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
    """Write ``config.yaml``: the flat options in schema order, then the library versions."""
    data = {**config.to_flat(), VERSIONS_KEY: library_versions()}
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_run_config(run_dir: Path) -> TrainConfig:
    """The config a run was trained with, from its ``config.yaml`` (files of every earlier version load)."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise RunFolderError(f"{run_dir}: not a run folder (no {RUN_CONFIG})")
    data = read_yaml_mapping(path, "", "option: value")
    data.pop(VERSIONS_KEY, None)
    if "spacing" not in data:  # runs from before --spacing squeezed whole slices: predict and resume them that way
        data["spacing"] = LEGACY_SPACING
    data.setdefault("augment", "none")  # runs from before --augment trained without: resume them that way
    return TrainConfig.from_flat(data, source=str(path))

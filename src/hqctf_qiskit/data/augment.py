"""Training augmentation: a MONAI 2D pipeline for one training item, deterministic for a per-item seed.

An item is an image ``[1, P, P]`` float32 in [0, 1] and a label ``[P, P]`` uint8, an axial slice of the canonical
RAS grid: its first spatial axis runs left-right, its second anterior-posterior. ``--augment`` is ``default``,
``none`` or a YAML file listing MONAI random dictionary transforms with their arguments::

    - RandRotated: {range_x: 0.26, prob: 0.2}
    - Rand2DElasticd: {spacing: [20, 20], magnitude_range: [1, 2], prob: 0.2}

hqctf sets each transform's ``keys``: spatial transforms move the image and the label with the same random draw
(the label always resampled with ``nearest``, so it keeps its label values); intensity transforms see the image
only. The image is clipped to [0, 1] at the end. Each item is augmented by a pipeline reseeded from its own seed
(MONAI's ``set_random_state``), never from a global generator: the output depends on the seed alone, whichever
DataLoader worker computes it, and a resumed run redraws exactly what an uninterrupted one drew.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from monai.data.meta_obj import get_track_meta, set_track_meta
from monai.transforms import Compose, MapTransform, Randomizable
import monai.transforms as monai_transforms

from ..errors import ConfigError
from ..io import atomic_write_text

__all__ = ["AUGMENTATION_FILE", "Augmenter", "DEFAULT", "NONE", "default_transforms", "lateralised_classes",
           "make_augmenter", "read_transform_file", "run_augmenter", "write_augmentation"]

log = logging.getLogger(__name__)

DEFAULT, NONE = "default", "none"
AUGMENTATION_FILE = "augmentation.yaml"  # in the run folder
IMAGE, LABEL = "image", "label"
LEFT_RIGHT_AXIS, ANTERIOR_POSTERIOR_AXIS = 0, 1  # spatial axes of an item (x, y of the RAS grid)
LABEL_MODES = ("nearest", "nearest-exact")  # interpolation that keeps label values
# Transforms that keep the item's shape: MONAI's spatial and intensity families (crops and patch samplers do not).
ALLOWED_MODULES = {"monai.transforms.spatial.dictionary": "spatial",
                   "monai.transforms.intensity.dictionary": "intensity"}
# What MONAI raises for argument values it cannot use (a wrong type, a range the wrong way round, a bad mode).
ARGUMENT_ERRORS = (ValueError, TypeError, RuntimeError, NotImplementedError, AssertionError)
PROBE_SIZE = 32  # a file's transforms are tried once on an item this large when the augmenter is built
# Words and name parts that make a class lateralised (left/right kidney): a left-right flip would mislabel them.
_LATERAL_WORDS = ("left", "right")
_LATERAL_PARTS = {"l", "r", "lt", "rt", "lft", "rgt", "sin", "dx"}


def lateralised_classes(classes: list[str]) -> list[str]:
    """The class names that name one side of the body (``kidney_left``, ``Parotid_R``, ``LeftLung``, ``lung l``)."""
    found = []
    for name in classes:
        lowered = name.lower()
        parts = re.split(r"[^a-z0-9]+", lowered)
        if any(word in lowered for word in _LATERAL_WORDS) or _LATERAL_PARTS & set(parts):
            found.append(name)
    return found


def default_transforms(left_right_flip: bool) -> list[dict[str, dict[str, Any]]]:
    """The ``default`` pipeline as a transform list (the YAML file format).

    Probabilities follow nnU-Net's default 2D augmentation (rotation and scaling 0.2 each, mirroring 0.5, noise
    0.1, blur 0.2, contrast 0.15, gamma 0.3) so most items see one or two transforms and some none; magnitudes are
    milder where the issue asks (rotation ±15°, scaling 0.85-1.25) and noise is sized for [0, 1] images. Elastic
    deformation is off (nnU-Net turned it off too; it is the slowest transform); add
    ``Rand2DElasticd`` in a file to use it. Mirroring is left-right only: bodies are close to left-right symmetric
    but never anterior-posterior (spine behind, bowel in front), and not at all when a class is lateralised.
    """
    spatial = [
        {"RandRotated": {"range_x": round(math.radians(15), 4), "prob": 0.2, "padding_mode": "zeros"}},
        {"RandZoomd": {"min_zoom": 0.85, "max_zoom": 1.25, "prob": 0.2, "padding_mode": "constant"}},
    ]
    if left_right_flip:
        spatial.append({"RandFlipd": {"spatial_axis": LEFT_RIGHT_AXIS, "prob": 0.5}})
    intensity = [
        {"RandGaussianNoised": {"std": 0.05, "prob": 0.1}},
        {"RandGaussianSmoothd": {"sigma_x": [0.5, 1.0], "sigma_y": [0.5, 1.0], "prob": 0.2}},
        {"RandScaleIntensityFixedMeand": {"factors": 0.25, "prob": 0.15}},
        {"RandAdjustContrastd": {"gamma": [0.7, 1.5], "prob": 0.3}},
    ]
    return [_with_keys(step) for step in spatial + intensity]


def _family(cls: type) -> str:
    return ALLOWED_MODULES[cls.__module__]


def _with_keys(step: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A default step with the keys (and label interpolation) hqctf sets on every transform."""
    (name, args), = step.items()
    cls = getattr(monai_transforms, name)
    if _family(cls) == "intensity":
        return {name: {"keys": [IMAGE], **args}}
    extra = {"mode": ["bilinear", "nearest"]} if "mode" in inspect.signature(cls.__init__).parameters else {}
    return {name: {"keys": [IMAGE, LABEL], **extra, **args}}


class Augmenter:
    """One item's augmentation: ``augmenter(image, label, seed) -> (image, label)``, the same output for a seed.

    ``transforms`` is the transform list in the YAML file format with keys set (see :func:`make_augmenter`).
    """

    def __init__(self, transforms: list[dict[str, dict[str, Any]]]) -> None:
        self._steps = copy.deepcopy(transforms)
        self._pipeline = Compose([getattr(monai_transforms, name)(**args) for step in self._steps
                                  for name, args in step.items()])

    def __call__(self, image: np.ndarray, label: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        self._pipeline.set_random_state(seed=int(seed) % 2**32)
        with _plain_single_threaded():
            out = self._pipeline({IMAGE: image, LABEL: label[None]})
        augmented = np.clip(_numpy(out[IMAGE]), 0.0, 1.0).astype(np.float32, copy=False)
        return np.ascontiguousarray(augmented), np.ascontiguousarray(_numpy(out[LABEL])[0].astype(label.dtype))

    def describe(self) -> list[dict[str, dict[str, Any]]]:
        """The transforms with the arguments they were built with (the YAML file format: loadable again)."""
        return copy.deepcopy(self._steps)


@contextmanager
def _plain_single_threaded() -> Iterator[None]:
    """MONAI on plain tensors (its metadata bookkeeping made an item 1.5-2x slower, measured) and one torch thread.

    One thread because torch splits large reductions (the mean of a contrast change) over its threads, which changes
    their rounding: an item must come out the same in the main process (torch's threads = cores) and in a DataLoader
    worker (one thread), or ``--workers`` would change training.
    """
    tracking, threads = get_track_meta(), torch.get_num_threads()
    set_track_meta(False)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        set_track_meta(tracking)
        torch.set_num_threads(threads)


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def make_augmenter(spec: str, classes: list[str]) -> Augmenter | None:
    """The augmenter of ``--augment`` (``default``, ``none`` or a YAML file); None for ``none``.

    ``classes``: the run's class names; a lateralised one turns the default's left-right flip off (logged) and makes
    a file's left-right flip a ConfigError (a flipped left kidney would still be labelled left).
    """
    lateral = lateralised_classes(classes)
    if spec == NONE:
        return None
    if spec == DEFAULT:
        if lateral:
            log.info("augmentation: no left-right flip (lateralised classes: %s)", ", ".join(lateral))
        return Augmenter(default_transforms(left_right_flip=not lateral))
    steps = read_transform_file(Path(spec), lateral)
    return Augmenter(steps) if steps else None


def run_augmenter(spec: str, classes: list[str], run_dir: Path | None) -> Augmenter | None:
    """The augmenter of a run: a resumed run's (``run_dir``) from the ``augmentation.yaml`` it started with, so
    it resumes with the same transforms even when ``--augment``'s file has changed or is gone; else ``spec``'s."""
    recorded = Path(run_dir) / AUGMENTATION_FILE if run_dir is not None else None
    source = str(recorded) if recorded is not None and recorded.is_file() else spec
    augmenter = make_augmenter(source, classes)
    names = [name for step in augmenter.describe() for name in step] if augmenter is not None else []
    log.info("training augmentation (%s): %s", source, ", ".join(names) or "none")
    return augmenter


def write_augmentation(augmenter: Augmenter | None, path: Path) -> None:
    """The run folder's record of its transforms (``[]``: none), in the ``--augment FILE`` format."""
    from importlib.metadata import version

    header = (f"# Training augmentation of this run: MONAI {version('monai')} transforms, applied in this order.\n"
              f"# Usable as --augment FILE; resuming the run reads it back.\n")
    steps = augmenter.describe() if augmenter is not None else []
    atomic_write_text(path, header + yaml.safe_dump(steps, sort_keys=False, default_flow_style=None))


def read_transform_file(path: Path, lateral: list[str] | None = None) -> list[dict[str, dict[str, Any]]]:
    """A YAML file's transforms, checked: every problem is one ConfigError line ``<file>: <transform>: <problem>``."""
    if not path.is_file():
        raise ConfigError(f"--augment: {path} is neither 'default', 'none' nor an existing YAML file")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: must be a list of transforms, e.g. '- RandRotated: {{range_x: 0.26, prob: 0.2}}'")
    steps = []
    for position, entry in enumerate(entries, 1):
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise ConfigError(f"{path}: entry {position}: must be one 'TransformName: {{argument: value}}' mapping")
        (name, args), = entry.items()
        steps.append(_checked_step(path, str(name), args, lateral or []))
    return steps


def _transform_class(path: Path, name: str) -> type:
    cls = getattr(monai_transforms, name, None)
    usable = (isinstance(cls, type) and name.startswith("Rand") and issubclass(cls, MapTransform)
              and issubclass(cls, Randomizable))
    if not usable:
        candidates = [n for n in dir(monai_transforms) if n.startswith("Rand") and n.endswith("d")]
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"{path}: {name}: not a MONAI random dictionary transform (Rand...d){hint}")
    if cls.__module__ not in ALLOWED_MODULES:
        raise ConfigError(f"{path}: {name}: only MONAI's spatial and intensity transforms are supported (they keep "
                          f"the patch size)")
    return cls


def _checked_step(path: Path, name: str, args: Any, lateral: list[str]) -> dict[str, dict[str, Any]]:
    """One entry with its keys set, built and tried once on a probe item."""
    cls = _transform_class(path, name)
    args = {} if args is None else args
    if not isinstance(args, dict):
        raise ConfigError(f"{path}: {name}: arguments must be a mapping, e.g. {{prob: 0.2}}")
    args = {str(key): value for key, value in args.items()}
    parameters = inspect.signature(cls.__init__).parameters
    accepted = [p for p in parameters if p not in ("self", "keys", "kwargs", "args")]
    for key in args:
        if key not in parameters:
            raise ConfigError(f"{path}: {name}: unknown argument {key!r}; it takes {', '.join(accepted)}")
    missing = [p for p in accepted if parameters[p].default is inspect.Parameter.empty and p not in args]
    if missing:
        raise ConfigError(f"{path}: {name}: needs {', '.join(missing)}")
    family = _family(cls)
    keys = [IMAGE] if family == "intensity" else [IMAGE, LABEL]
    if args.get("keys", keys) != keys:
        raise ConfigError(f"{path}: {name}: keys are set by hqctf ({keys} for a {family} transform); leave them out")
    args = {"keys": keys, **{k: v for k, v in args.items() if k != "keys"}}
    if family == "spatial" and "mode" in parameters:
        args["mode"] = _modes(path, name, args.get("mode", "bilinear"))
    if family == "spatial":
        _check_flip(path, name, args, lateral)
    try:
        transform = cls(**args)
    except ARGUMENT_ERRORS as exc:  # MONAI's own check of the user's argument values
        raise ConfigError(f"{path}: {name}: bad argument value ({_first_line(exc)})") from None
    _probe(path, name, transform)
    return {name: args}


def _modes(path: Path, name: str, mode: Any) -> list[str]:
    """``[image mode, label mode]``: a single mode is the image's; the label is always resampled nearest."""
    modes = [mode, "nearest"] if isinstance(mode, str) else list(mode) if isinstance(mode, list) else None
    if modes is None or len(modes) != 2 or modes[1] not in LABEL_MODES:
        raise ConfigError(f"{path}: {name}: mode: give the image's mode (e.g. bilinear); the label always uses "
                          f"nearest, got {mode!r}")
    return modes


def _check_flip(path: Path, name: str, args: dict[str, Any], lateral: list[str]) -> None:
    """A file's flip: refused left-right when a class is lateralised; anterior-posterior only warned about."""
    if name not in ("RandFlipd", "RandAxisFlipd"):
        return
    axis = args.get("spatial_axis") if name == "RandFlipd" else None
    axes = {LEFT_RIGHT_AXIS, ANTERIOR_POSTERIOR_AXIS} if axis is None else set(np.atleast_1d(axis).tolist())
    if LEFT_RIGHT_AXIS in axes and lateral:
        raise ConfigError(f"{path}: {name}: flips left-right, but classes {', '.join(lateral)} name a side (a "
                          f"flipped left structure would still be labelled left)")
    if ANTERIOR_POSTERIOR_AXIS in axes:
        log.warning("%s: %s flips anterior-posterior, which anatomy never is", path, name)


def _probe(path: Path, name: str, transform: Any) -> None:
    """Apply the transform once (forced on) to a random item: bad values and shape changes fail now, not mid-run."""
    probe = copy.deepcopy(transform)
    if hasattr(probe, "prob"):
        probe.prob = 1.0
    probe.set_random_state(seed=0)
    rng = np.random.default_rng(0)
    item = {IMAGE: rng.random((1, PROBE_SIZE, PROBE_SIZE), dtype=np.float32),
            LABEL: rng.integers(0, 3, (1, PROBE_SIZE, PROBE_SIZE)).astype(np.uint8)}
    try:
        with _plain_single_threaded():
            out = probe(item)
    except ARGUMENT_ERRORS as exc:  # argument values MONAI accepts at construction but not in use
        raise ConfigError(f"{path}: {name}: bad argument value ({_first_line(exc)})") from None
    for key, value in item.items():
        if tuple(out[key].shape) != value.shape:
            raise ConfigError(f"{path}: {name}: changes the {key} shape {value.shape} to {tuple(out[key].shape)}; "
                              f"augmentation must keep the patch size")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

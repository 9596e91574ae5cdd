"""``dataset.json`` of nnU-Net and the Medical Segmentation Decathlon: its labels, its channels, its classes.

Both name label values: nnU-Net v2 as ``{"background": 0, "kidney": 1}``, MSD (and nnU-Net v1) as
``{"0": "background", "1": "liver"}``. Both list input channels (``channel_names`` / ``modality``); hqctf trains on
one CT channel, so a multi-channel dataset is refused in one line rather than read as something it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..jsonfile import read_json

__all__ = ["check_classes", "classes_from_labels", "dataset_json_path", "label_values", "read_dataset_json",
           "single_channel"]

FILE_NAME = "dataset.json"


def dataset_json_path(source: Path) -> Path | None:
    """The ``dataset.json`` a source stands for: the file itself (a JSON object), or one in the folder."""
    if source.is_dir():
        candidate = source / FILE_NAME
        return candidate if candidate.is_file() else None
    if source.is_file() and source.suffix.lower() == ".json":
        try:
            with source.open("r", encoding="utf-8") as handle:
                first = handle.read(4096).lstrip()[:1]
        except (OSError, UnicodeDecodeError):
            return None
        if first == "{":
            content = read_dataset_json(source)
            if any(key in content for key in ("labels", "training", "channel_names")):
                return source
    return None


def read_dataset_json(path: Path) -> dict[str, Any]:
    content = read_json(path)
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a JSON object (a dataset.json)")
    return content


def single_channel(path: Path, content: dict[str, Any]) -> None:
    """Refuse a dataset with several input channels (``channel_names`` or ``modality`` with more than one entry)."""
    for key in ("channel_names", "modality"):
        channels = content.get(key)
        if isinstance(channels, dict) and len(channels) > 1:
            names = ", ".join(f"{k}: {v}" for k, v in channels.items())
            raise DataError(f"{path}: {len(channels)} input channels ({names}); hqctf reads single-channel CT "
                            "(one 3D image per case)")


def _value(path: Path, name: str, raw: Any) -> int:
    if isinstance(raw, (list, tuple)):
        raise DataError(f"{path}: label {name!r} is a region ({raw}); region-based labels are not supported, map "
                        "values with --label-map and --classes instead")
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit():
        raise DataError(f"{path}: label {name!r} has value {raw!r}, expected a whole number")
    return int(text)


def label_values(path: Path, content: dict[str, Any]) -> dict[str, int]:
    """Class name → label value, in value order, from ``labels`` in either direction (nnU-Net v2 or MSD)."""
    labels = content.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise DataError(f"{path}: no 'labels' object (class names and their label values)")
    value_keys = all(str(key).strip().isdigit() for key in labels) and all(isinstance(v, str) for v in labels.values())
    pairs = ([(str(name), _value(path, str(name), key)) for key, name in labels.items()] if value_keys
             else [(str(name), _value(path, str(name), value)) for name, value in labels.items()])
    values = [value for _, value in pairs]
    if len(set(values)) != len(values):
        raise DataError(f"{path}: two labels share a value ({sorted(values)})")
    return dict(sorted(pairs, key=lambda pair: pair[1]))


def classes_from_labels(labels: dict[str, int], where: Path) -> list[str]:
    """The class names in value order, when the values are 0, 1, ..., n-1 (a class index is its position)."""
    values = list(labels.values())
    if values != list(range(len(values))):
        raise DataError(f"{where}: label values {values} are not 0..{len(values) - 1}; give --classes and a "
                        "--label-map that numbers them")
    return list(labels)


def check_classes(labels: dict[str, int], where: Path, classes: Sequence[str],
                  label_map: dict[int, int] | None) -> None:
    """``--classes`` given for a dataset that names its labels: the names must be its own, or a label map says how.

    Without ``label_map`` the classes must be the dataset's, in value order (case-insensitive); with one, every
    value it maps must be one of the dataset's.
    """
    if label_map is None:
        ours = [name.lower() for name in classes]
        theirs = [name.lower() for name in classes_from_labels(labels, where)]
        if ours != theirs:
            raise DataError(f"--classes: {','.join(classes)} are not the classes of {where} "
                            f"({','.join(labels)}); use those, or map its values with --label-map")
        return
    unknown = sorted(set(label_map) - set(labels.values()))
    if unknown:
        raise DataError(f"--label-map: values {unknown} are not labels of {where} "
                        f"({', '.join(f'{v}: {n}' for n, v in labels.items())})")

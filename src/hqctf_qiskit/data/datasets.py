"""Finding cases in any supported layout (see :mod:`.layouts`): paths and, from a dataset.json, class names.

Only paths (and DICOM file meta headers) are read here, so listing a large dataset is instant and a typo fails
before any training starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import DataError
from .layouts import CasePaths, DatasetInfo, read_layout

__all__ = ["CasePaths", "DatasetInfo", "describe_dataset", "discover_cases"]

logger = logging.getLogger(__name__)


def describe_dataset(source: str | Path) -> DatasetInfo:
    """The cases of a data source and what its layout says about them (class names from a dataset.json).

    Sources: a KiTS folder, a folder of DICOM patient folders, an nnU-Net or MSD dataset folder (or its
    dataset.json), or a ``.csv``/``.json`` case list. Folders list their cases sorted by name; lists keep their
    own order, resolve relative paths against their own folder, and name each case by its ``case_id`` or else
    by its image's name.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or directory")
    info = read_layout(source)
    unlabelled = sum(case.label is None for case in info.cases)
    logger.info("found %d cases in %s, a %s (%d without labels)", len(info.cases), source,
                info.description or info.layout, unlabelled)
    return info


def discover_cases(source: str | Path) -> list[CasePaths]:
    """The cases of a data source (see :func:`describe_dataset`), in dataset order."""
    return describe_dataset(source).cases

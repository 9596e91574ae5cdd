"""2D axial-slice dataset cached in memory, and a seeded foreground-balanced sampler.

Kidneys appear in a minority of abdominal slices; drawing slices uniformly spends most steps on empty
background. The sampler fixes the share of foreground slices per epoch instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, WeightedRandomSampler

from .errors import DataError
from .cases import CaseVolume
from .preprocessing import DEFAULT_WINDOW, resize_to, window_and_scale

__all__ = ["SliceDataset", "make_sampler"]

logger = logging.getLogger(__name__)


class SliceDataset(Dataset):
    """Every axial slice of every case, windowed, scaled to [0, 1] and resized to ``image_size`` squared.

    All slices are prepared once in the constructor (a whole case is resized in one call), so an epoch never
    re-reads NIfTI files or repeats preprocessing. Memory: ``4 * image_size**2`` bytes per slice for images.
    Items are ``(image FloatTensor[1, S, S], label LongTensor[S, S])``.
    ``foreground_fraction`` and ``seed`` are kept for :meth:`sampler`.
    """

    def __init__(
        self,
        cases: list[CaseVolume],
        image_size: int = 128,
        window: Sequence[float] = DEFAULT_WINDOW,
        foreground_fraction: float | None = None,
        seed: int = 0,
    ) -> None:
        if image_size < 1:
            raise DataError(f"--image-size: must be positive, got {image_size}")
        if not cases:
            raise DataError("SliceDataset: no cases given")
        self.image_size = int(image_size)
        self.window = tuple(float(w) for w in window)  # validated by window_and_scale
        self.foreground_fraction = foreground_fraction
        self.seed = int(seed)

        images, labels, index = [], [], []
        for case in cases:
            if case.label is None:
                raise DataError(f"{case.image_path}: case {case.case_id} has no label; training slices need one")
            image, label = self._prepare(case)
            images.append(image)
            labels.append(label)
            index.extend((case.case_id, z) for z in range(image.shape[0]))
        self._images = torch.from_numpy(np.concatenate(images)).unsqueeze(1)  # [N, 1, S, S] float32
        self._labels = torch.from_numpy(np.concatenate(labels))  # [N, S, S] uint8
        self.slice_index: list[tuple[str, int]] = index
        self.has_foreground: np.ndarray = self._labels.flatten(1).amax(dim=1).numpy() > 0
        logger.info(
            "slice dataset: %d cases, %d slices at %dx%d, %d with foreground",
            len(cases), len(index), self.image_size, self.image_size, int(self.has_foreground.sum()),
        )

    def _prepare(self, case: CaseVolume) -> tuple[np.ndarray, np.ndarray]:
        """One case as [Z, S, S] image and label stacks (axial slices are ``volume[:, :, z]``)."""
        size = (self.image_size, self.image_size)
        scaled = window_and_scale(case.image, self.window)
        image = resize_to(np.moveaxis(scaled, 2, 0), size, order=1)
        np.clip(image, 0.0, 1.0, out=image)  # bilinear + antialias can overshoot by rounding
        assert case.label is not None
        label = resize_to(np.moveaxis(case.label, 2, 0), size, order=0).astype(np.uint8, copy=False)
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(label)

    def __len__(self) -> int:
        return len(self.slice_index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._images[index], self._labels[index].long()

    def sampler(self, num_samples: int | None = None) -> Sampler | None:
        """The foreground-balanced sampler for this dataset's settings, or None to draw uniformly."""
        if self.foreground_fraction is None:
            return None
        return make_sampler(self, self.foreground_fraction, num_samples, self.seed)


def make_sampler(
    dataset: SliceDataset,
    foreground_fraction: float,
    num_samples: int | None,
    seed: int,
) -> Sampler:
    """Seeded sampler (with replacement) that draws about ``foreground_fraction`` foreground slices.

    Foreground slices share weight ``f`` and background slices ``1 - f``, each split evenly within its group.
    With only one kind of slice present it falls back to uniform. Same seed, same sequence of epochs.
    """
    if not 0.0 <= foreground_fraction <= 1.0:
        raise DataError(f"--foreground-fraction: must lie in [0, 1], got {foreground_fraction}")
    has_fg = np.asarray(dataset.has_foreground, dtype=bool)
    if has_fg.size == 0:
        raise DataError("make_sampler: the dataset is empty")
    num_samples = has_fg.size if num_samples is None else int(num_samples)
    if num_samples < 1:
        raise DataError(f"--num-samples: must be positive, got {num_samples}")
    n_fg = int(has_fg.sum())
    n_bg = has_fg.size - n_fg
    if n_fg == 0 or n_bg == 0:
        logger.warning("all %d slices are %s; sampling uniformly", has_fg.size,
                       "foreground" if n_bg == 0 else "background")
        weights = np.ones(has_fg.size, dtype=np.float64)
    else:
        weights = np.where(has_fg, foreground_fraction / n_fg, (1.0 - foreground_fraction) / n_bg)
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double), num_samples, replacement=True, generator=generator
    )

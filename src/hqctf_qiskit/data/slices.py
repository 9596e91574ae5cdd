"""2D axial-slice dataset cached in memory, its training crops, and a seeded foreground-balanced sampler.

Each case is resampled once, in-plane, to the run's spacing (``--spacing``; x and y then hold the same mm per
pixel, whatever the scanner's aspect), so the slices of one case share a size and different cases keep their own.
Training items are ``patch_size`` squared crops of those slices, foreground-biased like nnU-Net's (see
:mod:`.patches`). Kidneys appear in a minority of abdominal slices; drawing slices uniformly spends most steps on
empty background, so the sampler fixes the share of foreground slices per epoch instead.

Items are keyed by ``(slice_index, item_seed)``: the crop (and the augmentation hook, ``augment``) draw from the
item seed alone, so an epoch's items depend on (run seed, epoch, position in the epoch) only and an exactly resumed
run sees the same crops, in any DataLoader worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, WeightedRandomSampler

from .cases import CaseVolume
from .errors import DataError
from .patches import crop, sample_crop_start
from .preprocessing import DEFAULT_WINDOW, network_labels, network_slices

__all__ = ["Augment", "SliceDataset", "make_sampler", "with_item_seeds"]

logger = logging.getLogger(__name__)

# (image float32 [1, P, P] in [0, 1], label uint8 [P, P], item seed) -> (image, label) as arrays or tensors
Augment = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]]
_CROP_STREAM = 1  # the crop's random stream within an item seed (augmentation draws from its own)


class SliceDataset(Dataset):
    """Every axial slice of every case, windowed, scaled to [0, 1] and resampled to ``spacing`` mm per pixel.

    ``spacing`` None: the legacy way (runs from before ``--spacing``): every slice squeezed to ``patch_size``
    squared, whatever its millimetres. Cases are prepared once in the constructor, so an epoch never re-reads files.
    Memory: 5 bytes per resampled pixel (image and label); a 512 squared case at 0.8 mm stays about 512 squared.

    ``dataset[(slice_index, item_seed)]`` is a training item ``(image FloatTensor[1, P, P], label LongTensor[P, P])``
    with ``P = patch_size``: a crop drawn from ``item_seed``, then ``augment(image, label, item_seed)`` when set.
    A plain ``dataset[slice_index]`` uses the slice index as the item seed. :meth:`case_slices` gives whole slices.
    ``foreground_fraction`` and ``seed`` are kept for :meth:`sampler`.
    """

    def __init__(
        self,
        cases: list[CaseVolume],
        patch_size: int = 128,
        window: Sequence[float] = DEFAULT_WINDOW,
        foreground_fraction: float | None = None,
        seed: int = 0,
        spacing: float | None = None,
    ) -> None:
        if patch_size < 1:
            raise DataError(f"--patch-size: must be positive, got {patch_size}")
        if spacing is not None and not spacing > 0:
            raise DataError(f"--spacing: must be a spacing in mm > 0, got {spacing}")
        if not cases:
            raise DataError("SliceDataset: no cases given")
        self.patch_size = int(patch_size)
        self.spacing = None if spacing is None else float(spacing)
        self.window = tuple(float(w) for w in window)  # validated by window_and_scale
        self.foreground_fraction = foreground_fraction
        self.seed = int(seed)
        self.augment: Augment | None = None

        self.case_ids: list[str] = []
        self._images: list[np.ndarray] = []  # per case [Z, X', Y'] float32
        self._labels: list[np.ndarray] = []  # per case [Z, X', Y'] uint8
        index: list[tuple[str, int]] = []
        for case in cases:
            if case.label is None:
                raise DataError(f"{case.image_path}: case {case.case_id} has no label; training slices need one")
            self.case_ids.append(case.case_id)
            self._images.append(network_slices(case.image, case.spacing, self.window, self.spacing, self.patch_size))
            self._labels.append(network_labels(case.label, case.spacing, self.spacing, self.patch_size))
            index.extend((case.case_id, z) for z in range(case.num_slices))
        self.slice_index: list[tuple[str, int]] = index
        # slice i lives in case _case_of[i] at z _z_of[i]
        self._case_of = np.repeat(np.arange(len(cases)), [image.shape[0] for image in self._images])
        self._z_of = np.concatenate([np.arange(image.shape[0]) for image in self._images])
        self.has_foreground: np.ndarray = np.concatenate(
            [label.reshape(label.shape[0], -1).max(axis=1) > 0 for label in self._labels])
        sizes = sorted({image.shape[1:] for image in self._images})
        megabytes = sum(image.nbytes + label.nbytes for image, label in zip(self._images, self._labels)) / 2**20
        logger.info("slice dataset: %d cases, %d slices (%d with foreground) at %s, in-plane sizes %s..%s, %.0f MB; "
                    "crops %dx%d", len(cases), len(index), int(self.has_foreground.sum()),
                    "the legacy squeeze" if self.spacing is None else f"{self.spacing:g} mm",
                    "x".join(map(str, sizes[0])), "x".join(map(str, sizes[-1])), megabytes,
                    self.patch_size, self.patch_size)

    def __len__(self) -> int:
        return len(self.slice_index)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, item_seed = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), int(key))
        case, z = int(self._case_of[index]), int(self._z_of[index])
        label_slice = self._labels[case][z]
        rng = np.random.default_rng([item_seed, _CROP_STREAM])
        start = sample_crop_start(label_slice, self.patch_size, rng)
        image = crop(self._images[case][z][None], start, self.patch_size, fill=0.0)  # 0 = the window's low end
        label = crop(label_slice, start, self.patch_size, fill=0)
        if self.augment is not None:
            image, label = self.augment(image, label, item_seed)
        return torch.as_tensor(image, dtype=torch.float32), torch.as_tensor(label).long()

    def case_slices(self) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """Per case: ``(case_id, images FloatTensor[Z, 1, X', Y'], labels LongTensor[Z, X', Y'])``, whole resampled
        slices (validation runs the network on them as prediction does, not on random crops)."""
        for case_id, images, labels in zip(self.case_ids, self._images, self._labels):
            yield case_id, torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long()

    def sampler(self, num_samples: int | None = None) -> Sampler | None:
        """The foreground-balanced sampler for this dataset's settings, or None to draw uniformly."""
        if self.foreground_fraction is None:
            return None
        return make_sampler(self, self.foreground_fraction, num_samples, self.seed)


def with_item_seeds(indices: Sequence[int], seed: int) -> list[tuple[int, int]]:
    """The keys of an epoch: each drawn slice index paired with its own item seed, from ``seed`` and its position."""
    seeds = np.random.default_rng([int(seed), 0x5EED]).integers(0, 2**63 - 1, size=len(indices), dtype=np.int64)
    return [(int(index), int(item_seed)) for index, item_seed in zip(indices, seeds)]


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

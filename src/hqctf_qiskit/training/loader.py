"""The training DataLoader: items (crop and augmentation) prepared in worker processes while the network trains."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch.utils.data import DataLoader, Dataset


def default_workers() -> int:
    """DataLoader workers when ``--workers`` is not given: all cores but two, at most 4 (none on 1-2 cores).

    torch's training step uses two threads; a worker on one of those cores stalls them (measured on 2 cores: a step
    fed by one worker cost ~1.5x the unaugmented step, fed in-process 0.94x), so workers only take cores the step
    leaves free. Four workers already prepare 2D patches faster than a GPU step consumes them (an item costs a few
    ms), and each worker is one more process holding a copy-on-write view of the slices.
    """
    return min(4, max(0, (os.cpu_count() or 1) - 2))


def train_loader(dataset: Dataset, keys: Sequence, batch_size: int, workers: int | None,
                 pin_memory: bool = False) -> DataLoader:
    """One epoch's loader over ``keys`` (in order, whole batches only); ``workers`` None: :func:`default_workers`.

    Worker processes change nothing in the results: an item depends on its key alone (its crop and augmentation
    draw from the item seed, never from a worker's generator), and the loader takes one number from the global
    torch generator when an epoch starts, with or without workers. Workers are not persistent: the loader is made
    anew every epoch (its keys are the epoch's), and a persistent one would skip that draw from the second epoch on,
    so the model's random stream would differ between ``--workers 0`` and ``--workers N``.
    """
    workers = default_workers() if workers is None else workers
    return DataLoader(dataset, batch_size=batch_size, sampler=keys, drop_last=True, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=False)

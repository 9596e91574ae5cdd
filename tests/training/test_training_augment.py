"""Augmentation in training: DataLoader workers change nothing, the run folder records the transforms, old runs
resume without augmentation."""

from __future__ import annotations

import pytest
import torch
import yaml

from hqctf_qiskit.config import TrainConfig, load_run_config, save_config
from hqctf_qiskit.data.augment import AUGMENTATION_FILE, make_augmenter
from hqctf_qiskit.training import loop

TINY = {"patch_size": 32, "batch_size": 4, "samples_per_epoch": 8, "epochs": 1, "reps": 1, "device": "cpu",
        "seed": 3, "qpg_layers": "decoder.blocks.4.*"}


@pytest.mark.slow
def test_workers_change_nothing_and_the_run_records_its_transforms(tmp_path, tiny_phantom):
    weights = {}
    for augment, workers in (("default", 0), ("default", 2), ("none", 2)):
        out = tmp_path / f"{augment}{workers}"
        config = TrainConfig.from_flat({"data": str(tiny_phantom), "out": str(out), "augment": augment,
                                        "workers": workers, **TINY}, source="test")
        loop.train(config)
        weights[augment, workers] = torch.load(out / "checkpoint_final.pt", weights_only=True)["model"]
    same = lambda a, b: all(torch.equal(a[key], b[key]) for key in a)  # noqa: E731
    assert same(weights["default", 0], weights["default", 2])
    assert not same(weights["default", 2], weights["none", 2])  # the training items were augmented
    assert yaml.safe_load((tmp_path / "none2" / AUGMENTATION_FILE).read_text()) == []

    recorded = yaml.safe_load((tmp_path / "default2" / AUGMENTATION_FILE).read_text())
    assert recorded == make_augmenter("default", ["background", "kidney", "tumor"]).describe()
    assert yaml.safe_load((tmp_path / "default2" / "config.yaml").read_text())["augment"] == "default"


def test_a_run_config_without_augment_means_none(tmp_path):
    """Run folders from before --augment trained without augmentation: resuming them must not add it."""
    save_config(TrainConfig.from_flat({"epochs": 2}, source="test"), tmp_path / "config.yaml")
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert written["augment"] == "default"
    del written["augment"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(written))
    assert load_run_config(tmp_path).data.augment == "none"

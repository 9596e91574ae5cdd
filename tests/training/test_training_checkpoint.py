"""Checkpoints: readable-or-a-clear-error, and best/final linked to latest without losing their contents."""

import pytest
import torch

from hqctf_qiskit.errors import CheckpointError, HqctfError
from hqctf_qiskit.training.checkpoint import link_checkpoint, load_checkpoint, save_checkpoint


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "checkpoint_latest.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="checkpoint_latest.pt: not a readable hqctf checkpoint"):
        load_checkpoint(bad)


@pytest.mark.parametrize("hard_links", [True, False])
def test_linked_checkpoint_keeps_its_contents_when_the_source_is_saved_again(tmp_path, monkeypatch, hard_links):
    if not hard_links:  # a file system without hard links: the copy fallback
        def no_link(*args, **kwargs):
            raise OSError("hard links not supported")

        monkeypatch.setattr("os.link", no_link)
    latest, best = tmp_path / "checkpoint_latest.pt", tmp_path / "checkpoint_best.pt"
    save_checkpoint(latest, {"step": 1, "w": torch.ones(3)})
    link_checkpoint(latest, best)
    save_checkpoint(latest, {"step": 2, "w": torch.zeros(3)})
    assert load_checkpoint(best)["step"] == 1 and torch.equal(load_checkpoint(best)["w"], torch.ones(3))
    assert load_checkpoint(latest)["step"] == 2
    link_checkpoint(latest, best)  # replaces an existing target
    assert load_checkpoint(best)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [best.name, latest.name]  # no temp files left


def test_checkpoint_error_is_an_hqctf_error():
    assert issubclass(CheckpointError, HqctfError)

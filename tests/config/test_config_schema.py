import pytest

import torch

from hqctf_qiskit.training.checkpoint import atomic_write_text, link_checkpoint, load_checkpoint, save_checkpoint
from hqctf_qiskit.config.schema import ConfigError, TrainConfig


def test_defaults_validate_and_round_trip():
    config = TrainConfig()
    config.validate()
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.qpg_layers == "decoder" and config.backend == "torch"


def test_yaml_accepts_dashes_and_rejects_unknown_keys(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("arch: fpn\nqpg-layers: none\nepochs: 3\n")
    assert TrainConfig.from_yaml(good) == {"arch": "fpn", "qpg_layers": "none", "epochs": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text("arhc: fpn\n")
    with pytest.raises(ConfigError, match="bad.yaml has unknown option"):
        TrainConfig.from_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("arch: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml(broken)


@pytest.mark.parametrize(
    "changes, option",
    [({"arch": "vnet"}, "--arch"), ({"mapping": "fourier"}, "--mapping"), ({"epochs": 0}, "--epochs"),
     ({"window": [300, -50]}, "--window"), ({"classes": ["bg"]}, "--classes"), ({"device": "tpu"}, "--device"),
     ({"entanglement": "star"}, "--entanglement")],
)
def test_bad_values_name_their_option(changes, option):
    with pytest.raises(ConfigError, match=option):
        TrainConfig.from_dict({**TrainConfig().to_dict(), **changes})


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write_text(target, "first")

    class Boom(Exception):
        pass

    from hqctf_qiskit.training import checkpoint

    def failing(handle):
        handle.write(b"partial")
        raise Boom

    with pytest.raises(Boom):
        checkpoint._atomic(target, failing)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "checkpoint_latest.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint_latest.pt: not a readable hqctf checkpoint"):
        load_checkpoint(bad)


def test_example_config_is_valid():
    from helpers import REPO_ROOT

    values = TrainConfig.from_yaml(REPO_ROOT / "examples" / "train_small.yaml")
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **values})
    assert config.mapping == "chunked" and config.image_size == 96


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


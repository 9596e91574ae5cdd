import pytest

import torch

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


def test_example_config_is_valid():
    from helpers import REPO_ROOT

    values = TrainConfig.from_yaml(REPO_ROOT / "examples" / "train_small.yaml")
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), **values})
    assert config.mapping == "chunked" and config.image_size == 96

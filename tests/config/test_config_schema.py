"""The run config's sections: defaults, flat keys <-> sections, lax coercion, and one-line errors naming the option."""

import subprocess
import sys

import pytest

from hqctf_qiskit.config import FLAT_KEYS, ConfigError, TrainConfig
from hqctf_qiskit.config.schema import field_info

FILE = "--config: my.yaml"


def test_defaults_round_trip_through_flat_keys():
    config = TrainConfig()
    flat = config.to_flat()
    assert list(flat) == list(FLAT_KEYS), "flat keys in schema order, one per field"
    assert TrainConfig.from_flat(flat) == config
    assert config.weights.qpg_layers == "decoder" and config.backend.name == "torch"
    assert flat["backend"] == "torch" and flat["data"] is None  # flat key names differ from field names here


def test_flat_keys_land_in_their_sections():
    config = TrainConfig.from_flat({"data": "cases/", "image-size": 64, "arch": "FPN", "mapping": "qt",
                                    "backend": "fake_brisbane", "shots": 100, "epochs": 3, "seed": 7})
    assert config.data.source == "cases/" and config.data.patch_size == 64
    assert config.model.arch == "fpn", "architecture names are case-insensitive, stored lower-case"
    assert config.weights.mapping == "qt"
    assert (config.backend.name, config.backend.shots) == ("fake_brisbane", 100)
    assert (config.optim.epochs, config.optim.seed) == (3, 7)
    assert config.backend.is_hardware is False and config.with_options(backend="ibm_fez").backend.is_hardware


def test_unambiguous_strings_are_coerced():
    config = TrainConfig.from_flat({"lr": "0.01", "max_steps": "2", "shots": "10", "amp": "false",
                                    "classes": "bg, organ", "window": "-100,200", "rank_budget": "1234",
                                    "lowrank_layers": "decoder"})
    assert config.optim.lr == 0.01 and config.optim.max_steps == 2 and config.backend.shots == 10
    assert config.optim.amp is False
    assert config.data.classes == ["bg", "organ"] and config.data.window == [-100.0, 200.0]
    assert config.weights.rank_budget == 1234


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epochs": "ten"}, f"{FILE}: epochs: must be a whole number, got 'ten'"),
        ({"epochs": 1.5}, f"{FILE}: epochs: must be a whole number, got 1.5"),
        ({"epochs": 0}, f"{FILE}: epochs: must be >= 1, got 0"),
        ({"epochs": True}, f"{FILE}: epochs: must be a whole number, got True"),  # YAML's `epochs: yes`
        ({"max_steps": False}, f"{FILE}: max_steps: must be a whole number, got False"),
        ({"lr": True}, f"{FILE}: lr: must be a number, got True"),
        ({"shots": True}, f"{FILE}: shots: must be a whole number, got True"),
        ({"classes": 5}, f"{FILE}: classes: must be a list, got 5"),
        ({"classes": ["bg"]}, f"{FILE}: classes: need at least two distinct class names, got ['bg']"),
        ({"window": [300, -50]}, f"{FILE}: window: need LOW,HIGH with LOW < HIGH"),
        ({"window": "a,b"}, f"{FILE}: window: must be a number, got 'a'"),
        ({"lr": "fast"}, f"{FILE}: lr: must be a number, got 'fast'"),
        ({"lr": 0}, f"{FILE}: lr: must be > 0, got 0"),
        ({"amp": "maybe"}, f"{FILE}: amp: must be true or false, got 'maybe'"),
        ({"image-size": "big"}, f"{FILE}: image-size: must be a whole number, got 'big'"),
        ({"arch": "vnet"}, f"{FILE}: arch: unknown value 'vnet'; choose from unet,"),
        ({"mapping": "fourier"}, f"{FILE}: mapping: unknown value 'fourier'"),
        ({"entanglement": "star"}, f"{FILE}: entanglement: unknown value 'star'"),
        ({"device": "tpu"}, f"{FILE}: device: unknown value 'tpu'; choose from auto, cpu, cuda"),
        ({"schedule": "step"}, f"{FILE}: schedule: unknown value 'step'"),
        ({"backend": "quantum_thing"}, f"{FILE}: backend: unknown backend 'quantum_thing'"),
        ({"shots": 0}, f"{FILE}: shots: must be a positive integer, got 0"),
        ({"gradient": "adjoint"}, f"{FILE}: gradient: unknown value 'adjoint'"),
        ({"optimization_level": 7}, f"{FILE}: optimization_level: must be 0, 1, 2 or 3, got 7"),
        ({"rank_budget": "lots", "lowrank_layers": "decoder"}, f"{FILE}: rank_budget: 'qpg' or a number"),
        ({"lowrank_layers": "decoder"}, f"{FILE}: lowrank_layers: give exactly one of --rank N or --rank-budget"),
        ({"lowrank_layers": "decoder", "rank": 2, "rank_budget": "qpg"}, f"{FILE}: lowrank_layers: give exactly"),
        ({"arhc": "unet"}, f"{FILE}: arhc: unknown option (did you mean arch?)"),
    ],
)
def test_bad_values_are_one_line_naming_option_and_source(values, message):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_flat(values, source=FILE)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_per_key_sources_name_where_each_value_came_from():
    sources = {"epochs": "--epochs", "lr": "--config: my.yaml: lr"}
    with pytest.raises(ConfigError, match=r"^--epochs: must be a whole number, got 'ten'$"):
        TrainConfig.from_flat({"epochs": "ten", "lr": 0.1}, source=sources)
    with pytest.raises(ConfigError, match=r"^--config: my.yaml: lr: must be > 0"):
        TrainConfig.from_flat({"epochs": 2, "lr": -1}, source=sources)


def test_sections_are_frozen_and_copies_are_validated_again():
    config = TrainConfig()
    with pytest.raises(Exception):
        config.optim.epochs = 3
    torch_run = TrainConfig.from_flat({"backend": "fake_brisbane", "shots": 4096}).with_options(
        backend="torch", shots=None)
    assert (torch_run.backend.name, torch_run.backend.shots) == ("torch", None)
    with pytest.raises(ConfigError, match="epochs: must be >= 1"):
        config.with_options(epochs=0)


def test_backend_values_follow_the_backends_rules_and_build_a_spec():
    from hqctf_qiskit.backends.spec import BackendSpec

    config = TrainConfig.from_flat({"backend": "fake_brisbane", "shots": 64, "gradient": "spsa", "seed": 5})
    spec = BackendSpec.from_config(config)
    assert (spec.name, spec.shots, spec.gradient, spec.seed, spec.kind) == ("fake_brisbane", 64, "spsa", 5, "fake")


def test_every_field_has_help_and_a_unique_flat_key():
    for key in FLAT_KEYS:
        info = field_info(key)
        assert info.metadata and any(getattr(m, "help", None) for m in info.metadata), key


def test_classical_and_lowrank_configs_load_without_qiskit():
    """The ansatz's names live with the circuits (qiskit): they are checked only when QPG layers are used."""
    code = (
        "import sys\n"
        "from hqctf_qiskit.config import TrainConfig\n"
        "TrainConfig.from_flat({'qpg_layers': 'none', 'lowrank_layers': 'decoder', 'rank': 2, 'backend': 'torch'})\n"
        "from hqctf_qiskit.backends.spec import BackendSpec\n"
        "BackendSpec.from_config(TrainConfig.from_flat({'qpg_layers': 'none'}))\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'qiskit'], 'qiskit imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(ConfigError, match="entanglement: unknown value 'star'"):
        TrainConfig.from_flat({"entanglement": "star"})  # QPG layers selected (the default): checked

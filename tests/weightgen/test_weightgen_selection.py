import pytest
from torch import nn

from hqctf_qiskit.weightgen import parse_layer_patterns, replace_module, select_layers

from helpers import Tiny


def test_roles_and_globs():
    model = Tiny()
    assert select_layers(model, ["decoder"]) == ["decoder.0", "decoder.1"]
    assert select_layers(model, ["head"]) == ["segmentation_head"]
    assert select_layers(model, ["encoder", "head"]) == ["encoder.0", "segmentation_head"]
    assert select_layers(model, ["all"]) == ["encoder.0", "decoder.0", "decoder.1", "segmentation_head"]
    assert select_layers(model, ["decoder.1", "fc"]) == ["decoder.1", "fc"]  # a glob can pick a Linear
    assert select_layers(model, ["segmentation_head", "decoder.*"]) == ["decoder.0", "decoder.1", "segmentation_head"]
    assert parse_layer_patterns("none") == [] and parse_layer_patterns("decoder, head") == ["decoder", "head"]
    assert parse_layer_patterns(None) == [] and parse_layer_patterns(["encoder.0"]) == ["encoder.0"]


def test_a_pattern_matching_nothing_is_an_error_naming_the_option():
    with pytest.raises(ValueError, match="--qpg-layers: pattern 'decodr'"):
        select_layers(Tiny(), ["decodr"])
    with pytest.raises(ValueError, match="--lowrank-layers: pattern 'fc2'"):
        select_layers(Tiny(), ["fc2"], option="--lowrank-layers")


def test_subclasses_of_conv_are_never_selected():
    class SamePad(nn.Conv2d):
        pass

    model = Tiny()
    model.decoder[1] = SamePad(8, 8, 1)
    assert select_layers(model, ["decoder"]) == ["decoder.0"]


def test_replace_module_by_dotted_name():
    model = Tiny()
    new = nn.Identity()
    replace_module(model, "decoder.1", new)
    assert model.decoder[1] is new
    replace_module(model, "fc", new)
    assert model.fc is new

"""``apply_hypernet``: swap selected layers for hypernet-generated ones (the classical control of QPG) and report them
in QPG's terms, so the two reports compare column by column."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..qpg.report import QPGLayerInfo, QPGReport
from ..weightgen.replace import swap_layers, trainable_parameters
from ..weightgen.selection import parse_layer_patterns, select_layers
from ..weightgen.source import layer_init_std
from .source import HypernetSource

log = logging.getLogger(__name__)


@dataclass
class HypernetReport(QPGReport):
    """QPG's report for the hypernet control: ``qubits`` is log2 of the 2**n probabilities per channel, and
    ``circuit_params`` the θ that QPG's circuits would hold."""

    label = "hypernet"

    def settings(self) -> str:
        return f"fixed random projection + softmax, mapping {self.mapping}"


def apply_hypernet(
    model: nn.Module, layers: str | Sequence[str] | None, ansatz: Any = None, mapping: str = "affine",
    mapping_options: dict[str, Any] | None = None,
) -> HypernetReport:
    """Replace the selected Conv2d/Linear layers of ``model`` in place by hypernet layers; return the report.

    Arguments as :func:`hqctf_qiskit.qpg.apply_qpg` (no engine): the layers get the parameter count and mapping
    that ``apply_qpg`` with the same ``ansatz`` and ``mapping`` would give them.
    """
    if ansatz is None:
        from ..circuits.ansatz import AnsatzSpec  # plain data: loads no qiskit

        ansatz = AnsatzSpec()
    report = HypernetReport(mapping=mapping, ansatz=ansatz.to_dict(), classical_trainable=trainable_parameters(model))
    names = select_layers(model, parse_layer_patterns(layers))

    def make_source(name: str, replaced: nn.Module) -> HypernetSource:
        weight = replaced.weight
        source = HypernetSource(weight.shape, ansatz, mapping=mapping, mapping_options=mapping_options,
                                target_std=layer_init_std(weight)).to(device=weight.device)
        report.layers.append(QPGLayerInfo.of(name, replaced, source))
        log.debug("hypernet %s: %d channels, fan_in %d, 2**%d states", name, source.channels, source.fan_in,
                  source.num_qubits)
        return source

    swap_layers(model, names, make_source)
    report.qpg_trainable = trainable_parameters(model)
    return report

"""``apply_qpg``: swap selected layers of a model for QPG layers and report the parameter budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable

import torch
from torch import nn

from .generator import ChannelCircuitGenerator, EngineProvider
from .layers import QPGConv2d, QPGLinear
from .report import QPGLayerInfo, QPGReport, trainable_parameters
from .selection import parse_layer_patterns, replace_module, select_layers

log = logging.getLogger(__name__)


def engine_provider(ansatz: Any, engine: str | Callable[..., Any] = "torch", **engine_options: Any) -> EngineProvider:
    """``num_qubits -> engine`` for an ansatz template, building each circuit and engine once per qubit count."""
    from ..circuits import build_ansatz  # qiskit is needed to build, never to run an exported model
    from ..backends import make_engine

    cache: dict[int, Any] = {}

    def engine_for(num_qubits: int) -> Any:
        if num_qubits not in cache:
            circuit = build_ansatz(ansatz.with_qubits(num_qubits))
            cache[num_qubits] = (
                make_engine(engine, circuit, **engine_options) if isinstance(engine, str)
                else engine(circuit, **engine_options)
            )
        return cache[num_qubits]

    return engine_for


def _init_std(weight: torch.Tensor) -> float:
    """The replaced layer's init std; a degenerate (constant) weight falls back to PyTorch's default init std."""
    std = float(weight.detach().float().std()) if weight.numel() > 1 else 0.0
    if std > 0:
        return std
    fan_in = weight[0].numel()
    return (1.0 / (3.0 * fan_in)) ** 0.5


def apply_qpg(
    model: nn.Module,
    layers: str | Sequence[str] | None,
    ansatz: Any = None,
    mapping: str = "affine",
    engine: str | Callable[..., Any] = "torch",
    mapping_options: dict[str, Any] | None = None,
    engine_options: dict[str, Any] | None = None,
) -> QPGReport:
    """Replace the selected Conv2d/Linear layers of ``model`` in place by QPG layers; return the parameter report.

    ``layers``: roles (``encoder``, ``decoder``, ``head``, ``all``) and/or fnmatch globs over module names, as a
    comma-separated string or a list; ``"none"`` leaves the model classical. ``ansatz``: an ``AnsatzSpec`` template
    (its ``num_qubits`` is set per layer from the fan-in and the mapping). ``engine``: a backend name or a
    ``factory(circuit, **engine_options)``.
    """
    if ansatz is None:
        from ..circuits import AnsatzSpec

        ansatz = AnsatzSpec()
    report = QPGReport(mapping=mapping, ansatz=ansatz.to_dict(), classical_trainable=trainable_parameters(model))
    names = select_layers(model, parse_layer_patterns(layers))
    engine_for = engine_provider(ansatz, engine, **(engine_options or {}))
    exact_for = engine_for if engine == "torch" and not engine_options else engine_provider(ansatz, "torch")
    for name in names:
        original = model.get_submodule(name)
        weight = original.weight
        channels, fan_in = weight.shape[0], weight[0].numel()
        generator = ChannelCircuitGenerator(
            channels, fan_in, engine_for, mapping=mapping, mapping_options=mapping_options,
            target_std=_init_std(weight), calibration_engine_for=exact_for,
        ).to(device=weight.device)
        qpg = QPGConv2d(original, generator) if isinstance(original, nn.Conv2d) else QPGLinear(original, generator)
        qpg.train(original.training)
        replace_module(model, name, qpg)
        report.layers.append(
            QPGLayerInfo(
                name=name, kind=type(original).__name__, channels=channels, fan_in=fan_in,
                qubits=generator.num_qubits, circuit_params=generator.circuit_parameter_count,
                mapping_params=generator.mapping_parameter_count, generated_weights=weight.numel(),
            )
        )
        log.debug("QPG %s: %d channels, fan_in %d, %d qubits", name, channels, fan_in, generator.num_qubits)
    report.qpg_trainable = trainable_parameters(model)
    return report

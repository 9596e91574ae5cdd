"""``apply_qpg``: swap selected layers of a model for layers with a QPG weight source and report the budget."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable

from torch import nn

from ..weightgen.replace import swap_layers, trainable_parameters
from ..weightgen.selection import parse_layer_patterns, select_layers
from ..weightgen.source import layer_init_std
from .report import QPGLayerInfo, QPGReport
from .source import EngineProvider, QPGSource

log = logging.getLogger(__name__)


def engine_provider(ansatz: Any, engine: str | Callable[..., Any] = "torch", **engine_options: Any) -> EngineProvider:
    """``num_qubits -> engine`` for an ansatz template, building each circuit and engine once per qubit count.

    ``engine``: a backend name, or a ``factory(circuit, **engine_options)`` (e.g. a backend session's ``engine``).
    """
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

    def make_source(name: str, replaced: nn.Module) -> QPGSource:
        weight = replaced.weight
        source = QPGSource(
            weight.shape, engine_for, mapping=mapping, mapping_options=mapping_options,
            target_std=layer_init_std(weight), calibration_engine_for=exact_for,
        ).to(device=weight.device)
        report.layers.append(QPGLayerInfo.of(name, replaced, source))
        log.debug("QPG %s: %d channels, fan_in %d, %d qubits", name, source.channels, source.fan_in,
                  source.num_qubits)
        return source

    swap_layers(model, names, make_source)
    report.qpg_trainable = trainable_parameters(model)
    return report

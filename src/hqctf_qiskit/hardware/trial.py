"""The cheap, honest hardware experiment: regenerate every QPG layer's weights from a sampler backend.

Forward only: each QPG layer's trained circuit parameters are run once on the backend (B channel circuits per
layer, fewer with packing), the measured probabilities go through the layer's trained mapping, and the resulting
plain model is evaluated next to the exact-weight model. The trial owns one backend session (one IBM Batch for all
layers; layers with equal circuits share an engine) and closes it when done. With ``mitigation`` (``readout``, ``m3``)
the measured probabilities are readout-mitigated with calibrations taken in that session on the qubits the circuits
use (``engines.mitigation``); ``twirling`` and ``dd`` go to an ibm_* sampler.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn

from ..backends.session import BackendSession
from ..backends.spec import BackendSpec
from ..errors import ConfigError
from ..qpg.source import QPGSource, qpg_layers

log = logging.getLogger(__name__)


@torch.no_grad()
def sampled_weights(
    model: nn.Module, backend: str, shots: int | None, *, seed: int = 0, pack: bool = False,
    optimization_level: int = 1, mitigation: str = "none", twirling: bool = False, dd: str | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Per QPG layer: weights from probabilities measured on ``backend``, and what it cost and how far it is off."""
    layers = qpg_layers(model)
    if not layers:
        raise ConfigError("--weights-from: this run has no QPG layers (a classical run has nothing to regenerate)")
    spec = BackendSpec(backend, shots=shots, pack=pack, optimization_level=optimization_level, seed=seed,
                       mitigation=mitigation, twirling=twirling, dd=dd)
    weights: dict[str, torch.Tensor] = {}
    stats: list[dict[str, Any]] = []
    with BackendSession(spec) as session:
        for name, layer in layers:
            weights[name], row = _sampled_layer(name, layer.source, session)
            stats.append(row)
            log.info("%s: %d channels x %d qubits on %s, weight relative error %.3f", name, row["channels"],
                     row["qubits"], backend, row["weight_relative_error"])
    return weights, stats


def _sampled_layer(name: str, source: QPGSource, session: BackendSession) -> tuple[torch.Tensor, dict[str, Any]]:
    """One layer's weight from the session's engine for its circuit, and how far it is from the exact weight."""
    engine = session.engine(source.engine.circuit)
    started = time.perf_counter()
    measured = engine.probabilities(source.theta.detach().cpu()).to(source.theta)
    exact = source.probabilities()
    weight = source.regenerate_from(measured)
    reference = source.regenerate_from(exact)  # no second engine run
    return weight, {
        "layer": name, "channels": source.channels, "qubits": source.num_qubits,
        "probability_max_abs_error": float((measured - exact).abs().max()),
        "weight_relative_error": float((weight - reference).norm() / reference.norm().clamp_min(1e-12)),
        "seconds": round(time.perf_counter() - started, 3),
    }

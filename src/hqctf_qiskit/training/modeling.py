"""Build the model a config describes (smp architecture + optional QPG or low-rank layers) and its optimizer groups."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config.schema import ConfigError, TrainConfig
from ..hypernet import apply_hypernet
from ..lowrank import apply_lowrank
from ..lowrank.budget import qpg_budget
from ..models import build_model
from ..qpg import apply_qpg
from ..weightgen import generated_layers, parse_layer_patterns


def _classical_model(config: TrainConfig) -> nn.Module:
    return build_model(config.model.arch, config.model.encoder, in_channels=1, classes=len(config.data.classes),
                       encoder_weights=config.model.encoder_weights)


def lowrank_budget(config: TrainConfig) -> int:
    """Trainable parameters the low-rank layers may hold: a number, or what QPG puts in the same layers.

    ``qpg`` is counted on a freshly built model of the same architecture (its layer shapes), without circuits or
    engines: a low-rank run needs no qiskit.
    """
    weights = config.weights
    if weights.rank_budget != "qpg":
        return int(weights.rank_budget)
    return qpg_budget(_classical_model(config), weights.lowrank_layers, weights.ansatz(), mapping=weights.mapping,
                      mapping_options=weights.mapping_options())


def build_training_model(config: TrainConfig, session: Any = None) -> tuple[nn.Module, dict[str, Any] | None]:
    """The model for ``config`` and its parameter report (QPG or low-rank; None for a classical model).

    ``session``: the run's ``backends.BackendSession``, which gives the QPG layers their engines (and closes them
    with the run); without one the engines are built from ``config``'s backend name.
    """
    weights = config.weights
    model = _classical_model(config)
    if parse_layer_patterns(weights.lowrank_layers):
        budget = lowrank_budget(config) if weights.rank_budget is not None else None
        report = apply_lowrank(model, weights.lowrank_layers, rank=weights.rank, budget=budget)
        if parse_layer_patterns(weights.qpg_layers):
            _apply_qpg(model, config, session)  # QPG on other layers than the low-rank ones
        return model, {"kind": "lowrank", **report.to_dict()}
    if not parse_layer_patterns(weights.qpg_layers):
        return model, None
    kind = "hypernet" if weights.generator == "hypernet" else "qpg"
    return model, {"kind": kind, **_apply_qpg(model, config, session)}


def _apply_qpg(model: nn.Module, config: TrainConfig, session: Any = None) -> dict[str, Any]:
    """QPG layers on ``--qpg-layers``, their probabilities from the circuits or (``--generator hypernet``) from the
    classical control."""
    weights = config.weights
    if weights.generator == "hypernet":
        return apply_hypernet(model, weights.qpg_layers, weights.ansatz(), mapping=weights.mapping,
                              mapping_options=weights.mapping_options()).to_dict()
    engine, engine_options = (session.engine, None) if session is not None else (config.backend.name,
                                                                                  config.engine_options())
    report = apply_qpg(
        model, weights.qpg_layers, weights.ansatz(), mapping=weights.mapping, engine=engine,
        mapping_options=weights.mapping_options(), engine_options=engine_options,
    )
    return report.to_dict()


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """QPG sources' parameters (circuit and mapping) get ``--qpg-lr`` and no weight decay; everything else ``--lr``
    and ``--weight-decay`` — low-rank factors included, like any classical weight (each source's ``optimizer_group``).
    """
    qpg_ids = {
        id(p) for _, layer in generated_layers(model) if layer.source.optimizer_group == "qpg"
        for p in layer.source.parameters()
    }
    ordered = _optimizer_order(model)
    qpg = [p for p in ordered if id(p) in qpg_ids and p.requires_grad]
    classical = [p for p in ordered if id(p) not in qpg_ids and p.requires_grad]
    optim = config.optim
    groups = [{"params": classical, "lr": optim.lr, "weight_decay": optim.weight_decay, "name": "classical"}]
    if qpg:
        groups.append({"params": qpg, "lr": optim.qpg_lr, "weight_decay": 0.0, "name": "qpg"})
    return groups


def _optimizer_order(model: nn.Module) -> list[nn.Parameter]:
    """``model.parameters()`` with each generated layer's bias moved after its source's parameters.

    An optimizer's saved state is matched to parameters by position. Low-rank layers held their factors before their
    bias until the weight sources came; listing them in that order keeps ``--resume`` working for run folders written
    before (QPG sources' parameters are in a group of their own, so their layers' order is the same either way).
    """
    bias_after: dict[int, nn.Parameter] = {}
    for _, layer in generated_layers(model):
        source_params = list(layer.source.parameters())
        if layer.bias is not None and source_params:
            bias_after[id(source_params[-1])] = layer.bias
    moved = {id(bias) for bias in bias_after.values()}
    ordered: list[nn.Parameter] = []
    for param in model.parameters():
        if id(param) not in moved:
            ordered.append(param)
        if id(param) in bias_after:
            ordered.append(bias_after[id(param)])
    return ordered


def resolve_device(option: str) -> torch.device:
    if option == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    if option == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(option)

"""``hqctf evaluate``: per-case 3D Dice/IoU and surface metrics (mm) at native resolution, KiTS regions, overlays."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..data import CaseVolume, DataError
from ..inference.model import export_metadata, model_preprocessing, predict_volume
from ..io import atomic_write_json, write_csv
from ..training.datasetup import discover, load_cases, resolve_splits
from ..training.modeling import resolve_device
from ..training.runs import check_checkpoint_name, load_run_checkpoint
from .metrics import case_metrics, case_surface_metrics, kits_regions, nanmean, nansd
from .outputs import check_free, evaluation_dir, staged_folder
from .overlays import save_overlay
from .surface import (DEFAULT_NSD_TOLERANCE_MM, SURFACE_METRICS, SURFACE_NAN_POLICY, check_nsd_tolerance,
                      implementation)

log = logging.getLogger(__name__)
SPLITS = ("val", "test", "train", "all")
NAN_POLICY = ("Dice/IoU are NaN when prediction and reference are both empty, and for a class the case's reference "
              "does not cover (an RTSTRUCT without a structure for it; regions including it too), as are all surface "
              "metrics there; " + SURFACE_NAN_POLICY + "; means and sds skip NaN")
REFUSAL = "already holds results; pass --overwrite to replace them, or --out DIR for another folder"


def metric_names(class_names: list[str]) -> list[str]:
    """The per-case columns: every metric of every foreground class, then of every KiTS region."""
    targets = [*class_names[1:], *(f"region_{r}" for r in kits_regions(class_names))]
    return [f"{m}_{t}" for t in targets for m in ("dice", "iou", *SURFACE_METRICS)]


def select_case_ids(splits: dict[str, list[str]], split: str, available: list[str]) -> list[str]:
    if split not in SPLITS:
        raise ConfigError(f"--split: unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if split == "all":
        return available
    ids = [c for c in splits[split] if c in set(available)]
    if not ids:
        raise DataError(f"--split {split}: no cases of this split in the data (try --split all)")
    return ids


def evaluate_model(
    model: torch.nn.Module, cases: list[CaseVolume], meta: dict[str, Any], device: torch.device, out_dir: Path,
    overlays: int = 3, extra: dict[str, Any] | None = None, nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
) -> dict[str, Any]:
    """Predict each case at native resolution and write ``summary.json`` (with ``extra``; mean and sd over cases),
    ``per_case.csv`` and overlay PNGs; surface metrics use the case's voxel spacing."""
    class_names = list(meta["classes"])
    names = metric_names(class_names)
    rows = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(cases):
        pred = predict_volume(model, case.image, voxel_spacing=case.spacing, **model_preprocessing(meta),
                              device=device)
        metrics = case_metrics(pred, case.label, class_names, absent=case.absent_classes)
        metrics.update(case_surface_metrics(pred, case.label, class_names, case.spacing, nsd_tolerance_mm,
                                            absent=case.absent_classes))
        rows.append({"case_id": case.case_id, **{k: metrics[k] for k in names}})
        log.info("%s: %s", case.case_id, "  ".join(f"{k} {metrics[k]:.3f}" for k in names
                                                   if k.startswith(("dice", "hd95", "nsd"))))
        if index < overlays:
            save_overlay(case, pred, out_dir / f"overlay_{case.case_id}.png", tuple(meta["window"]))
    write_csv(out_dir / "per_case.csv", rows, ["case_id", *names])
    summary = {
        **(extra or {}),
        "cases": len(rows),
        "mean": {k: nanmean([r[k] for r in rows]) for k in names},
        "sd": {k: nansd([r[k] for r in rows]) for k in names},
        "nsd_tolerance_mm": float(nsd_tolerance_mm),
        "metrics_implementation": implementation(),
        "nan_policy": NAN_POLICY,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def evaluate_run(
    run_dir: Path, data: str | None = None, split: str = "val", checkpoint: str = "best",
    out_dir: Path | None = None, device: str = "auto", weights_from: str | None = None, shots: int | None = None,
    pack: bool = False, seed: int = 0, overwrite: bool = False, nsd_tolerance_mm: float = DEFAULT_NSD_TOLERANCE_MM,
    mitigation: str = "none", twirling: bool = False, dd: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run; with ``weights_from`` also the model whose QPG weights come from that sampler backend
    (``mitigation``, ``twirling``, ``dd``: how it samples, see ``hardware.trial``).

    Results go to their own folder (default
    ``RUN/eval/<split>-<checkpoint>[-<backend>-<shots>shots[-<mitigation>]]``), which appears only when complete; a
    folder that already holds results is replaced only with ``overwrite``. The summary's ``checkpoint_used`` says
    which checkpoint file was loaded (``best`` falls back to final, then latest).
    """
    run_dir = Path(run_dir)
    check_checkpoint_name(checkpoint)
    check_nsd_tolerance(nsd_tolerance_mm)
    if split not in SPLITS:
        raise ConfigError(f"--split: unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if weights_from is not None:  # a bad backend option fails now, not after the cases are loaded
        from ..backends.spec import BackendSpec

        BackendSpec(weights_from, shots=shots, pack=pack, seed=seed, mitigation=mitigation, twirling=twirling, dd=dd)
    if out_dir is None:
        out_dir = evaluation_dir(run_dir, split, checkpoint, weights_from, shots, mitigation)
    out_dir = Path(out_dir)
    check_free(out_dir, overwrite, REFUSAL)  # before minutes of work, not after
    qpg_model, config, used = load_run_checkpoint(run_dir, checkpoint=checkpoint)
    from ..weightgen.export import export_plain

    dev = resolve_device(device)
    if data is not None:
        config = config.with_options(data=data)
    cases = discover(config)
    available = [c.case_id for c in cases]
    splits = resolve_splits(config, cases, run_dir) if split != "all" else {}
    ids = select_case_ids(splits, split, available)
    volumes = load_cases(config, cases, ids, split)
    meta = export_metadata(config)
    base = {"run_dir": str(run_dir), "data": config.data.source, "split": split, "checkpoint": checkpoint,
            "checkpoint_used": used.to_dict()}
    if weights_from is None:
        with staged_folder(out_dir, overwrite, REFUSAL) as staging:
            summary = evaluate_model(export_plain(qpg_model).to(dev).eval(), volumes, meta, dev, staging,
                                     extra=base, nsd_tolerance_mm=nsd_tolerance_mm)
        return {**summary, "out_dir": str(out_dir), "checkpoint_description": used.describe()}

    from ..hardware.trial import sampled_weights

    weights, layer_stats = sampled_weights(qpg_model, weights_from, shots, seed=seed, pack=pack,
                                           mitigation=mitigation, twirling=twirling, dd=dd)
    tag = f"{weights_from}" + (f"_{shots}shots" if shots else "_exact")
    tag += f"_{mitigation}" if mitigation != "none" else ""
    with staged_folder(out_dir, overwrite, REFUSAL) as staging:
        exact = evaluate_model(export_plain(qpg_model).to(dev).eval(), volumes, meta, dev, staging / "exact",
                               extra=base, nsd_tolerance_mm=nsd_tolerance_mm)
        sampled = evaluate_model(export_plain(qpg_model, weights).to(dev).eval(), volumes, meta, dev,
                                 staging / tag, overlays=0, extra=base, nsd_tolerance_mm=nsd_tolerance_mm)
        summary = {**base, "cases": exact["cases"], "mean": exact["mean"], "sd": exact["sd"],
                   "weights_from": weights_from, "shots": shots, "mitigation": mitigation, "twirling": twirling,
                   "dd": dd, "sampled_mean": sampled["mean"],
                   "sampled_sd": sampled["sd"], "layers": layer_stats,
                   "nsd_tolerance_mm": exact["nsd_tolerance_mm"],
                   "metrics_implementation": exact["metrics_implementation"], "nan_policy": exact["nan_policy"]}
        atomic_write_json(staging / "summary.json", summary)
    return {**summary, "out_dir": str(out_dir), "checkpoint_description": used.describe()}

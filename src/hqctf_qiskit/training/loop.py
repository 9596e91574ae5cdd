"""The training loop: small and composable — data, model, optimizer, epochs, checkpoints, run-folder files."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..backends.session import BackendSession
from ..backends.spec import BackendSpec
from ..config import ConfigError, TrainConfig, load_run_config, save_config
from ..data import SliceDataset, make_sampler, with_item_seeds
from ..data.augment import AUGMENTATION_FILE, run_augmenter, write_augmentation
from ..diagnostics.rank import flatten_ranks, layer_ranks, plot_ranks
from ..evaluation.metrics import OverlapAccumulator, nanmean
from ..inference.sliding import network_logits
from ..io import atomic_write_json, write_csv
from ..weightgen.replace import trainable_parameters
from .checkpoint import checkpoint_path, link_checkpoint, load_checkpoint, save_checkpoint
from .datasetup import discover, load_cases, resolve_spacing, resolve_splits, with_dataset_classes, write_splits
from .determinism import deterministic_algorithms
from .distributed import DistContext
from .loader import train_loader
from .losses import DiceCELoss
from .modeling import build_training_model, parameter_groups, resolve_device
from .ownership import claim_existing_run, claim_new_run
from .plots import plot_progress
from .runs import new_run_dir

log = logging.getLogger(__name__)

# progress.png and rank.png are redrawn at most this often (and always at the end of a run): drawing both costs
# ~0.6 s, which was a quarter of an epoch in the small experiment preset.
PLOT_INTERVAL_S = 30.0


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best_dice: float = -math.inf
    history: list[dict[str, Any]] = field(default_factory=list)


def epoch_seed(seed: int, epoch: int) -> int:
    """Every epoch reseeds from (seed, epoch): a resumed run draws exactly what an uninterrupted one would."""
    return (seed * 1_000_003 + epoch * 7_919) % (2**63)


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, total_steps: int):
    def factor(step: int) -> float:
        progress = min(step / max(total_steps, 1), 1.0)
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if kind == "poly":
            return (1 - progress) ** 0.9
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """One training run in one run folder; ``run()`` trains to the end (or ``--max-steps``) and returns the summary.

    ``resume``: the folder is an existing run; it continues from ``checkpoint_latest.pt``, or starts over from step 0
    when it has none (killed before its first epoch ended).
    """

    def __init__(self, config: TrainConfig, run_dir: Path, resume: bool = False, yes: bool = False,
                 dist: DistContext | None = None) -> None:
        self.config, self.run_dir, self.resume, self.yes = config, Path(run_dir), resume, yes
        self.dist = dist or DistContext()
        self.device = self.dist.init(resolve_device(config.optim.device))
        self.class_names = list(config.data.classes)
        self.state = TrainState()
        self._saved_step: int | None = None  # the step of the latest checkpoint written by this session
        self._plotted_at, self._plotted_epochs = -math.inf, 0  # plots are throttled to one per PLOT_INTERVAL_S
        self.session: BackendSession | None = None  # the QPG layers' backend: opened in _setup, closed by run()

    # -- setup ------------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        config = self.config
        torch.manual_seed(config.optim.seed)
        cases = discover(config)
        self.splits = resolve_splits(config, cases, self.run_dir if self.resume else None)
        log.info("data: %d cases (train %d, val %d, test %d)", len(cases),
                 *(len(self.splits[k]) for k in ("train", "val", "test")))
        train_cases = load_cases(config, cases, self.splits["train"], "train")
        val_cases = load_cases(config, cases, self.splits["val"], "val")
        config = self.config = resolve_spacing(config, train_cases + val_cases)  # before config.yaml is written
        data = config.data
        self.train_set = SliceDataset(train_cases, data.patch_size, tuple(data.window), spacing=data.inplane_spacing)
        self.val_set = SliceDataset(val_cases, data.patch_size, tuple(data.window), spacing=data.inplane_spacing)
        del train_cases, val_cases  # the datasets hold the resampled slices; the volumes can go
        # training items only (validation never augments); a resumed run reads back the transforms it started with
        self.augmenter = run_augmenter(config.data.augment, self.class_names, self.run_dir if self.resume else None)
        self.train_set.augment = self.augmenter
        optim = config.optim
        samples = optim.samples_per_epoch or len(self.train_set)
        self.steps_per_epoch = max(1, samples // (optim.batch_size * self.dist.world_size))
        total = self.steps_per_epoch * optim.epochs
        self.total_steps = min(total, optim.max_steps) if optim.max_steps else total
        if config.weights.runs_circuits:
            self.session = BackendSession(BackendSpec.from_config(config))
        if config.backend.is_hardware:
            self._cost_guard()
        self.model, self.weight_report = build_training_model(config, self.session)
        self.model.to(self.device)
        self.forward_model = self.dist.wrap(self.model, self.device)  # DDP syncs gradients; self.model saves
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config))
        self.scheduler = make_scheduler(self.optimizer, optim.schedule, self.total_steps)
        self.amp = optim.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.loss_fn = DiceCELoss(len(self.class_names))

    def _cost_guard(self) -> None:
        """Before any job is sent to IBM hardware: say what the run costs; above the limits, require --yes."""
        from ..hardware.cost import GUARD_MAX_JOBS, GUARD_MAX_SHOTS, format_seconds, needs_confirmation, run_cost

        cost = run_cost(self.config, self.total_steps, self.session)
        step, run = cost["per_step"], cost["run"]
        log.info("%s cost: per step %s circuits, %s shots, %d jobs, %s QPU s; whole run (%d steps) %s circuits, %s "
                 "shots, %d jobs, %s QPU s (estimated)%s", self.config.backend.name, f"{step['circuits']:,}",
                 f"{step['shots']:,}", step["jobs"], format_seconds(step["qpu_seconds"]), cost["steps"],
                 f"{run['circuits']:,}", f"{run['shots']:,}", run["jobs"], format_seconds(run["qpu_seconds"]),
                 " (packed)" if cost["packing"] else "")
        if needs_confirmation(cost) and not self.yes:
            raise ConfigError(
                f"--yes: this run sends {run['jobs']:,} jobs and {run['shots']:,} shots to {self.config.backend.name} "
                f"(~{format_seconds(run['qpu_seconds'])} QPU seconds, estimated; limits without --yes: "
                f"{GUARD_MAX_JOBS} jobs, {GUARD_MAX_SHOTS:,} shots); pass --yes to run it, "
                f"or reduce --max-steps/--shots, use --pack or --gradient spsa"
            )

    def _write_run_files(self, keep_existing: bool = False) -> None:
        """config.yaml, splits.json, augmentation.yaml and the weight report; ``keep_existing``: only those missing
        (a run started over keeps the files its first start wrote, config.yaml above all)."""
        files = {"config.yaml": lambda path: save_config(self.config, path),
                 "splits.json": lambda path: write_splits(self.splits, path.parent),
                 AUGMENTATION_FILE: lambda path: write_augmentation(self.augmenter, path)}
        if self.weight_report is not None:
            report = self.weight_report
            files[f"{report['kind']}_report.json"] = lambda path: atomic_write_json(path, report)
        for name, write in files.items():
            if not (keep_existing and (self.run_dir / name).is_file()):
                write(self.run_dir / name)

    def _restore(self) -> None:
        state = load_checkpoint(checkpoint_path(self.run_dir, "latest"), map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.state = TrainState(state["epoch"], state["step"], state["best_dice"], state["history"])
        log.info("resumed %s at epoch %d (step %d)", self.run_dir, self.state.epoch, self.state.step)

    # -- loop -------------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train to the end; deterministic algorithms on CPU for the run only (the caller's flags come back)."""
        try:
            with deterministic_algorithms(self.device.type == "cpu"):
                return self._run()
        finally:
            if self.session is not None:
                self.session.close()  # every engine and the IBM Batch, however the run ends

    def _run(self) -> dict[str, Any]:
        self._setup()
        if self.resume and checkpoint_path(self.run_dir, "latest").is_file():
            self._restore()
        elif self.dist.is_main:
            if self.resume:
                log.info("%s has no checkpoint yet (stopped before its first epoch ended): starting over from step 0 "
                         "with its config.yaml", self.run_dir)
            self._write_run_files(keep_existing=self.resume)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(self.run_dir / "tensorboard")) if self.dist.is_main else _NullWriter()
        started = time.perf_counter()
        try:
            while self.state.epoch < self.config.optim.epochs and not self._step_limit_reached():
                row = self._run_epoch(writer)
                self._log_row(row)
                self._after_epoch(row, writer)
        finally:
            writer.close()
        return self._finish(time.perf_counter() - started)

    def _step_limit_reached(self) -> bool:
        max_steps = self.config.optim.max_steps
        return max_steps is not None and self.state.step >= max_steps

    def _run_epoch(self, writer) -> dict[str, Any]:
        config, epoch = self.config, self.state.epoch
        torch.manual_seed(epoch_seed(config.optim.seed, epoch))
        indices = self.dist.shard(self._epoch_indices(epoch))
        loader = train_loader(self.train_set, indices, config.optim.batch_size, config.data.workers,
                              pin_memory=self.device.type == "cuda")
        self.model.train()
        accumulator = OverlapAccumulator(len(self.class_names))
        losses: list[float] = []
        started = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.optim.epochs}", leave=False, dynamic_ncols=True,
                   disable=None if self.dist.is_main else True)  # one progress bar: rank 0's
        for images, labels in bar:
            if self._step_limit_reached():
                break
            loss, logits = self._train_step(images.to(self.device), labels.to(self.device))
            losses.append(loss)
            accumulator.update(logits.detach().float().cpu(), labels)
            bar.set_postfix(loss=f"{loss:.3f}", dice=f"{nanmean(accumulator.dice()):.3f}")
            writer.add_scalar("train/loss_step", loss, self.state.step)
        bar.close()
        epoch_time = time.perf_counter() - started
        row = {"epoch": epoch + 1, "step": self.state.step, "train_loss": nanmean(losses),
               "lr": self.optimizer.param_groups[0]["lr"], "epoch_seconds": round(epoch_time, 3)}
        row.update(self._validate())
        # the paper's "adaptive rank": effective rank of every generated weight matrix, per epoch
        row.update({k: round(v, 4) for k, v in flatten_ranks(layer_ranks(self.model)).items()})
        return row

    def _epoch_indices(self, epoch: int) -> list[tuple[int, int]]:
        """The items an epoch draws (all ranks together) as (slice index, item seed) keys of the training set,
        reproducible from (seed, epoch) alone: the item seed fixes each crop (and augmentation) by its position."""
        config = self.config
        samples = self.steps_per_epoch * config.optim.batch_size * self.dist.world_size
        seed = epoch_seed(config.optim.seed, epoch)
        if config.data.foreground_fraction is not None:
            indices = list(make_sampler(self.train_set, config.data.foreground_fraction, samples, seed))
        else:
            generator = torch.Generator().manual_seed(seed)
            rounds = -(-samples // len(self.train_set))
            order = torch.cat([torch.randperm(len(self.train_set), generator=generator) for _ in range(rounds)])
            indices = order[:samples].tolist()
        return with_item_seeds(indices, seed)

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            logits = self.forward_model(images)
            loss = self.loss_fn(logits, labels)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.step += 1
        return float(loss.detach()), logits

    @torch.no_grad()
    def _validate(self) -> dict[str, float]:
        """Loss and Dice on the validation cases' whole resampled slices, through the same sliding window as
        prediction (no random crops), a case's slices in batches."""
        self.model.eval()
        batch_size, patch_size = self.config.optim.batch_size * 2, self.config.data.patch_size
        accumulator = OverlapAccumulator(len(self.class_names))
        total, count = 0.0, 0
        for _case_id, case_images, case_labels in self.val_set.case_slices():
            for start in range(0, case_images.shape[0], batch_size):
                images = case_images[start : start + batch_size].to(self.device)
                labels = case_labels[start : start + batch_size].to(self.device)
                with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    logits = network_logits(self.model, images, patch_size, batch_size)
                total += float(self.loss_fn(logits, labels)) * images.shape[0]
                count += images.shape[0]
                accumulator.update(logits.float().cpu(), labels.cpu())
        row: dict[str, float] = {"val_loss": total / max(count, 1)}
        for name, dice, iou in zip(self.class_names[1:], accumulator.dice(), accumulator.iou()):
            row[f"val_dice_{name}"], row[f"val_iou_{name}"] = dice, iou
        row["val_mean_dice"] = nanmean(accumulator.dice())
        return row

    # -- bookkeeping ------------------------------------------------------------------------------------------
    def _log_row(self, row: dict[str, Any]) -> None:
        dice = "  ".join(f"{n} {row[f'val_dice_{n}']:.3f}" for n in self.class_names[1:])
        log.info("epoch %d/%d  step %d  train loss %.4f  val loss %.4f  val Dice: %s  (%.1fs)", row["epoch"],
                 self.config.optim.epochs, row["step"], row["train_loss"], row["val_loss"], dice, row["epoch_seconds"])

    def _after_epoch(self, row: dict[str, Any], writer) -> None:
        self.state.epoch += 1
        self.state.history.append(row)
        for key, value in row.items():
            if key != "epoch" and isinstance(value, float) and not math.isnan(value):
                writer.add_scalar(f"epoch/{key}", value, row["epoch"])
        writer.flush()
        improved = not math.isnan(row["val_mean_dice"]) and row["val_mean_dice"] > self.state.best_dice
        if improved:
            self.state.best_dice = row["val_mean_dice"]
        if not self.dist.is_main:
            return
        latest = checkpoint_path(self.run_dir, "latest")
        save_checkpoint(latest, self._checkpoint_state())
        self._saved_step = self.state.step
        if improved:
            link_checkpoint(latest, checkpoint_path(self.run_dir, "best"))
        self._write_metrics_csv()
        if time.perf_counter() - self._plotted_at >= PLOT_INTERVAL_S:
            self._write_plots()

    def _write_plots(self) -> None:
        plot_progress(self.state.history, self.class_names, self.run_dir / "progress.png")
        plot_ranks(self.state.history, self.run_dir / "rank.png")
        self._plotted_at, self._plotted_epochs = time.perf_counter(), len(self.state.history)

    def _checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.state.epoch, "step": self.state.step, "best_dice": self.state.best_dice,
            "history": self.state.history, "config": self.config.to_flat(),
        }

    def _report_totals(self, kind: str, trainable_key: str) -> dict[str, Any] | None:
        report = self.weight_report
        if report is None or report["kind"] != kind:
            return None
        return {"classical_trainable": report["classical_trainable"], "trainable": report[trainable_key],
                "ratio": report["ratio"]}

    def _write_metrics_csv(self) -> None:
        write_csv(self.run_dir / "metrics.csv", self.state.history)

    def _finish(self, seconds: float) -> dict[str, Any]:
        identical = self.dist.parameters_identical(self.model)
        if self.dist.is_main:
            final = checkpoint_path(self.run_dir, "final")
            if self._saved_step == self.state.step:  # nothing trained since the last epoch's checkpoint
                link_checkpoint(checkpoint_path(self.run_dir, "latest"), final)
            else:
                save_checkpoint(final, self._checkpoint_state())
            if self._plotted_epochs != len(self.state.history):
                self._write_plots()
        last = self.state.history[-1] if self.state.history else {}
        summary = {
            "run_dir": str(self.run_dir), "epochs": self.state.epoch, "steps": self.state.step,
            "best_val_mean_dice": self.state.best_dice if self.state.history else None,
            "final": {k: v for k, v in last.items() if k.startswith("val_")},
            "train_seconds_this_session": round(seconds, 2), "device": str(self.device),
            "trainable_params": trainable_parameters(self.model),
            "qpg": self._report_totals("qpg", "qpg_trainable"),
            "lowrank": self._report_totals("lowrank", "trainable"),
            "ddp": {"world_size": self.dist.world_size, "parameters_identical": identical},
        }
        if self.dist.is_main:
            atomic_write_json(self.run_dir / "summary.json", summary)
        self.dist.barrier()
        return summary


def train(config: TrainConfig | None, resume: str | Path | None = None, yes: bool = False) -> dict[str, Any]:
    """Train a new run (``config.optim.out`` or a fresh folder under ``runs_root()``), or resume one from its latest
    checkpoint (a run without one starts over from step 0).

    The run folder is claimed first (see :mod:`.ownership`): one process trains in it, a second gets a clear error,
    and the claim is given back however the run ends. Under ``torchrun`` rank 0 alone claims and writes the folder;
    every rank joins the process group, new run or resumed alike, and the ranks train as one world.
    """
    dist = DistContext.from_env()
    claim = None
    try:
        if resume is not None:
            run_dir = Path(resume)
            claim = claim_existing_run(run_dir) if dist.is_main else None  # before anything reads the folder
            return Trainer(load_run_config(run_dir), run_dir, resume=True, yes=yes, dist=dist).run()
        assert config is not None
        config = with_dataset_classes(config)  # nnU-Net/MSD: class names from dataset.json unless --classes
        dist.init(resolve_device(config.optim.device))
        claim = claim_new_run(new_run_dir(config)) if dist.is_main else None
        run_dir = dist.broadcast_path(claim.run_dir if claim is not None else None)
        return Trainer(config, run_dir, yes=yes, dist=dist).run()
    finally:
        if claim is not None:
            claim.release()  # a new run's folder still empty (bad input before anything was written) goes too
        dist.close()


class _NullWriter:
    """TensorBoard writer of ranks other than 0: they log nothing."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

"""``hqctf``: thin click commands — parse, call the library, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .errors import friendly_errors, setup_logging
from .options import BACKEND_OPTIONS, MODEL_OPTIONS, apply_options, merged_config


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=option) from None


def _resolve_run(run: str) -> Path:
    from ..training.runs import latest_run

    return latest_run() if run == "latest" else Path(run)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """HQC-TF: quantum parameter generation (QPG) for CT segmentation with Qiskit."""
    ctx.obj = {"debug": debug}
    setup_logging(verbose)


@cli.command()
@apply_options(MODEL_OPTIONS)
@apply_options(BACKEND_OPTIONS)
@click.option("--data", help="KiTS-layout folder or a CSV/JSON list of image/label pairs (default: phantom).")
@click.option("--classes", help="Comma-separated class names [background,kidney,tumor].")
@click.option("--label-map", help="Label remap, e.g. 2:1,3:1 (unlisted labels become background).")
@click.option("--window", help="HU window LOW,HIGH [-79,304].")
@click.option("--image-size", type=int, help="In-plane size of training slices [128].")
@click.option("--foreground-fraction", type=float, help="Share of sampled slices with foreground [0.5].")
@click.option("--splits", help="Reuse a splits.json (split by case).")
@click.option("--val-fraction", type=float, help="Share of cases for validation [0.2].")
@click.option("--test-fraction", type=float, help="Share of cases for test [0.2].")
@click.option("--phantom-cases", type=int, help="Cases of the default phantom dataset [12].")
@click.option("--lowrank-layers", help="Low-rank baseline on these layers (same syntax as --qpg-layers) [none].")
@click.option("--rank", type=int, help="Rank of the low-rank layers.")
@click.option("--rank-budget", help="Instead of --rank: 'qpg' (the QPG budget of those layers) or a parameter count.")
@click.option("--device", help="auto, cpu or cuda [auto].")
@click.option("--epochs", type=int, help="Epochs [10].")
@click.option("--max-steps", type=int, help="Stop after N optimizer steps (smoke runs).")
@click.option("--samples-per-epoch", type=int, help="Slices drawn per epoch [all training slices].")
@click.option("--batch-size", type=int, help="Batch size [8].")
@click.option("--lr", type=float, help="Learning rate of classical parameters [1e-3].")
@click.option("--qpg-lr", type=float, help="Learning rate of circuit and mapping parameters [1e-2].")
@click.option("--weight-decay", type=float, help="AdamW weight decay [1e-4].")
@click.option("--schedule", help="cosine, poly or constant [cosine].")
@click.option("--amp/--no-amp", default=None, help="Mixed precision on CUDA [on].")
@click.option("--seed", type=int, help="Seed [0].")
@click.option("--out", help="Run folder [runs/<arch>-<encoder>-<method>-s<seed>-<time>].")
@click.option("--resume", type=click.Path(), help="Continue the run in this folder from its latest checkpoint.")
@click.option("--yes", is_flag=True, help="Confirm an ibm_* run whose cost is above the guard's limits.")
@friendly_errors
def train(config_file: str | None, resume: str | None, yes: bool, **options: Any) -> None:
    """Train a segmentation model (QPG on the selected layers, or classical with --qpg-layers none)."""
    from ..training.loop import train as run_training

    given = {k: v for k, v in options.items() if v is not None}
    if "classes" in given:
        given["classes"] = [c.strip() for c in given["classes"].split(",") if c.strip()]
    if "window" in given:
        given["window"] = _floats(given["window"], "--window")
    if resume and (given or config_file):
        raise ValueError("--resume: continue with the run's own config.yaml; other options are not allowed")
    config = merged_config(config_file, given) if not resume else None
    summary = run_training(config, resume=resume, yes=yes)
    final = summary["final"]
    dice = "  ".join(f"{k[len('val_dice_'):]} {v:.3f}" for k, v in final.items() if k.startswith("val_dice_"))
    click.echo(f"run folder: {summary['run_dir']}")
    click.echo(f"final validation Dice: {dice}")
    for kind, label in (("qpg", "QPG"), ("lowrank", "low-rank")):
        if summary.get(kind):
            q = summary[kind]
            click.echo(f"trainable parameters: classical {q['classical_trainable']:,} -> {label} {q['trainable']:,} "
                       f"(ratio {q['ratio']:.3f})")


@cli.command()
@click.argument("run")
@click.option("--data", help="Evaluate on this data source instead of the run's.")
@click.option("--split", default="val", show_default=True, help="val, test, train or all.")
@click.option("--weights-from", help="Also evaluate with QPG weights regenerated on this backend (forward only).")
@click.option("--shots", type=int, help="Shots for --weights-from (default: exact where the backend allows).")
@click.option("--pack/--no-pack", default=False, help="Pack channels side by side for --weights-from.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --weights-from sampling.")
@click.option("--checkpoint", default="best", show_default=True, help="best, final or latest.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output folder [RUN/eval].")
@click.option("--device", default="auto", show_default=True)
@friendly_errors
def evaluate(run: str, data: str | None, split: str, checkpoint: str, out_dir: str | None, device: str,
             weights_from: str | None, shots: int | None, pack: bool, seed: int) -> None:
    """Per-case 3D Dice/IoU per class and KiTS regions on a split of a run (RUN may be 'latest')."""
    from ..evaluation.evaluate import evaluate_run

    if checkpoint not in ("best", "final", "latest"):
        raise ValueError(f"--checkpoint: unknown value {checkpoint!r}; choose best, final or latest")
    if shots is not None and weights_from is None:
        raise ValueError("--shots: only meaningful with --weights-from BACKEND")
    run_dir = _resolve_run(run)
    summary = evaluate_run(run_dir, data=data, split=split, checkpoint=checkpoint,
                           out_dir=Path(out_dir) if out_dir else None, device=device, weights_from=weights_from,
                           shots=shots, pack=pack, seed=seed)
    click.echo(f"evaluated {summary['cases']} {split} case(s) of {run_dir} ({checkpoint} checkpoint)")
    if weights_from is None:
        for key, value in summary["mean"].items():
            click.echo(f"  {key:<28} {value:.4f}")
    else:
        label = f"{weights_from} {shots} shots" if shots else f"{weights_from} exact"
        click.echo(f"  {'metric':<28} {'exact weights':>14} {label:>24}")
        for key, value in summary["mean"].items():
            click.echo(f"  {key:<28} {value:>14.4f} {summary['sampled_mean'][key]:>24.4f}")
        for layer in summary["layers"]:
            click.echo(f"  {layer['layer']:<40} weight relative error {layer['weight_relative_error']:.3f}")
    click.echo(f"wrote {Path(out_dir) if out_dir else run_dir / 'eval'}")


@cli.command()
@click.argument("run")
@click.argument("input_path", metavar="IN.nii.gz")
@click.argument("output_path", metavar="OUT.nii.gz")
@click.option("--device", default="cpu", show_default=True)
@click.option("--checkpoint", default="best", show_default=True, help="For a run folder: best, final or latest.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@friendly_errors
def predict(run: str, input_path: str, output_path: str, device: str, checkpoint: str, overwrite: bool) -> None:
    """Segment a NIfTI volume with a run or an export (an export needs no qiskit)."""
    from ..inference.predict import predict_nifti

    result = predict_nifti(_resolve_run(run), Path(input_path), Path(output_path), device=device,
                           overwrite=overwrite)
    click.echo(f"wrote {result['output']} {tuple(result['shape'])}: "
               + ", ".join(f"{k} {v}" for k, v in result["voxels_per_class"].items()))


@cli.command("export")
@click.argument("run")
@click.argument("out_dir")
@click.option("--checkpoint", default="best", show_default=True)
@friendly_errors
def export_cmd(run: str, out_dir: str, checkpoint: str) -> None:
    """Materialize QPG layers into a plain smp model: OUT_DIR/model.pt + model.json."""
    from ..inference.export import export_run

    meta = export_run(_resolve_run(run), Path(out_dir), checkpoint=checkpoint)
    click.echo(f"exported {meta['arch']}-{meta['encoder']} ({meta['parameters']:,} parameters) to {out_dir}")


@cli.command()
@click.argument("out")
@click.option("--cases", default=12, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--shape", default="96,96,32", show_default=True, help="Volume size X,Y,Z in voxels.")
@friendly_errors
def phantom(out: str, cases: int, seed: int, shape: str) -> None:
    """Write a synthetic abdominal CT phantom dataset (KiTS layout) with kidney and tumor labels."""
    from ..data import write_phantom_dataset

    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target}: already exists and is not empty; choose another OUT")
    size = tuple(int(v) for v in _floats(shape, "--shape"))
    folders = write_phantom_dataset(target, cases=cases, seed=seed, shape=size)
    click.echo(f"wrote {len(folders)} phantom cases to {target}")


@cli.command()
@click.argument("config_file", metavar="CONFIG.yaml")
@click.option("--small", is_flag=True, help="The small preset: 5 architectures x 5 methods x 3 seeds, CPU-sized.")
@friendly_errors
def experiment(config_file: str, small: bool) -> None:
    """Classical vs low-rank vs QPG over architectures and seeds on one split; results.csv/md/png (resumable)."""
    from ..experiments.grid import ExperimentSpec, run_experiment

    spec = ExperimentSpec.from_yaml(Path(config_file), small=small)
    result = run_experiment(spec)
    click.echo((Path(result["out"]) / "results.md").read_text())
    click.echo(f"wrote {result['out']}/results.csv, results.md, results.png ({result['runs']} runs)")


from .circuit_report import circuit_report  # noqa: E402  (registered here, defined in its own file)
cli.add_command(circuit_report)


def main(argv: list[str] | None = None) -> None:
    """Entry point: click usage errors are shortened to one line too."""
    try:
        cli.main(args=argv, prog_name="hqctf", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()

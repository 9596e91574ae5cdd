"""``hqctf phantom``: write the synthetic abdominal CT dataset (KiTS layout) that tests and demos train on."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import friendly_errors


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {text!r}",
                                 param_hint="--shape") from None


@click.command()
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
    folders = write_phantom_dataset(target, cases=cases, seed=seed, shape=_shape(shape))
    click.echo(f"wrote {len(folders)} phantom cases to {target}")

"""Run options on the command line are generated from the config schema: help, defaults, errors and merging."""

from __future__ import annotations

import re

import pytest

from hqctf_qiskit.cli.options import merged_config
from hqctf_qiskit.config.fields import default_text
from hqctf_qiskit.config.schema import FLAT_KEYS, field_info

from helpers import run_cli

# every option `hqctf train --help` listed before the options were generated from the schema
TRAIN_OPTIONS_BEFORE = [
    "--config", "--arch", "--encoder", "--qpg-layers", "--mapping", "--chunk", "--reps", "--rotation",
    "--entanglement", "--backend", "--shots", "--gradient", "--pack", "--no-pack", "--optimization-level", "--data",
    "--classes", "--label-map", "--window", "--patch-size", "--foreground-fraction", "--splits", "--val-fraction",
    "--test-fraction", "--phantom-cases", "--lowrank-layers", "--rank", "--rank-budget", "--device", "--epochs",
    "--max-steps", "--samples-per-epoch", "--batch-size", "--lr", "--qpg-lr", "--weight-decay", "--schedule",
    "--amp", "--no-amp", "--seed", "--out", "--resume", "--yes",
]
REPORT_OPTIONS_BEFORE = [
    "--config", "--arch", "--encoder", "--qpg-layers", "--mapping", "--chunk", "--reps", "--rotation",
    "--entanglement", "--backend", "--shots", "--gradient", "--pack", "--optimization-level", "--seed", "--json",
    "--qasm", "--draw",
]


def help_entries(text: str) -> dict[str, str]:
    """Option name -> its help text (continuation lines joined) from click's help page."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (-\S+(?:, --\S+)?(?: / --\S+)?)(?: \S+)?\s{2,}(.*)$", line)
        if match:  # "-h, --help": --help; "--patch-size, --image-size" (an old name after the option): --patch-size
            names = match.group(1).split(" / ")[0].split(", ")
            current = next((n for n in names if n.startswith("--")), names[-1])
            entries[current] = match.group(2)
        elif current and line.startswith(" " * 10):
            entries[current] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command, expected", [("train", TRAIN_OPTIONS_BEFORE),
                                               ("circuit-report", REPORT_OPTIONS_BEFORE)])
def test_help_lists_every_option_it_listed_before(capsys, command, expected):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    listed = set(re.findall(r"(--[a-z][a-z-]*)", out))
    assert set(expected) <= listed, sorted(set(expected) - listed)


def test_train_help_shows_every_default_from_the_schema(capsys):
    _, out, _ = run_cli(capsys, "train", "--help")
    entries = help_entries(out)
    for key in FLAT_KEYS:
        flag = "--" + key.replace("_", "-")
        shown = default_text(field_info(key))
        if shown is not None:
            assert f"[default: {shown}" in " ".join(entries[flag].split()), (flag, entries[flag])
    assert "[default: 128; x>=1]" in entries["--patch-size"]
    assert "affine, qt, chunked" in entries["--mapping"], "choices come from the mapping registry"


def test_changing_a_schema_default_changes_the_help(capsys, monkeypatch):
    info = field_info("patch_size")
    monkeypatch.setattr(info, "default", info.default * 2)
    _, out, _ = run_cli(capsys, "train", "--help")
    assert f"[default: {info.default}; x>=1]" in help_entries(out)["--patch-size"]


@pytest.mark.parametrize(
    "args, line",
    [
        (["--epochs", "ten"], "error: --epochs: must be a whole number, got 'ten'"),
        (["--epochs", "1.5"], "error: --epochs: must be a whole number, got '1.5'"),
        (["--patch-size", "0"], "error: --patch-size: must be >= 1, got 0"),
        (["--image-size", "0"], "error: --patch-size: must be >= 1, got 0"),  # the old name of --patch-size
        (["--spacing", "0"], "error: --spacing: 'auto', 'none' or a spacing in mm > 0, got '0'"),
        (["--window", "300,-50"], "error: --window: need LOW,HIGH with LOW < HIGH, got [300.0, -50.0]"),
        (["--shots", "0"], "error: --shots: must be a positive integer, got 0"),
        (["--mapping", "fourier"], "error: --mapping: unknown value 'fourier'; choose from affine, qt, chunked"),
        (["--resume", "somewhere", "--epochs", "2"],
         "error: --resume: continue with the run's own config.yaml; other options are not allowed"),
    ],
)
def test_bad_command_line_values_name_the_option(capsys, args, line):
    code, _, err = run_cli(capsys, "train", *args)
    assert code == 2
    assert err.strip() == line


@pytest.mark.parametrize(
    "text, problem",
    [
        ("epochs: ten\n", "epochs: must be a whole number, got 'ten'"),
        ("epochs: 1.5\n", "epochs: must be a whole number, got 1.5"),
        ("classes: 5\n", "classes: must be a list, got 5"),
        ("image-size: big\n", "image-size: must be a whole number, got 'big'"),
        ("epochs: yes\n", "epochs: must be a whole number, got True"),  # YAML booleans are not numbers
        ("lr: on\n", "lr: must be a number, got True"),
        ("arhc: unet\n", "arhc: unknown option (did you mean arch?)"),
    ],
)
def test_bad_config_file_values_name_the_file_and_key(capsys, tmp_path, text, problem):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    code, _, err = run_cli(capsys, "train", "--config", str(path))
    assert code == 2
    assert err.strip() == f"error: --config: {path}: {problem}"


def test_resume_refuses_a_config_file_too(capsys, tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("epochs: 2\n")
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path), "--config", str(path))
    assert code == 2 and "--resume:" in err


def test_command_line_values_override_the_config_file(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("epochs: 7\nlr: '0.01'\nmax-steps: '2'\nimage-size: 64\n")
    config = merged_config(str(path), {"epochs": "3", "backend": "aer_simulator"})
    assert config.optim.epochs == 3, "the command line wins"
    assert config.optim.lr == 0.01 and config.optim.max_steps == 2 and config.data.patch_size == 64
    assert config.backend.name == "aer_simulator"


def test_the_old_name_image_size_is_patch_size_and_the_command_line_still_wins(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("image-size: 64\n")
    assert merged_config(str(path), {}).data.patch_size == 64
    assert merged_config(str(path), {"patch_size": "32"}).data.patch_size == 32


@pytest.mark.slow
def test_quoted_numbers_in_a_config_file_train_as_numbers(capsys, tmp_path, tiny_phantom):
    """Issue 11 item 6: quoted numbers once ended in a TypeError traceback; they are coerced to the option's type."""
    import json

    import yaml

    path = tmp_path / "quoted.yaml"
    path.write_text('lr: "0.01"\nmax_steps: "2"\nshots: "10"\nepochs: "1"\nimage_size: "32"\n')
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--config", str(path), "--data", str(tiny_phantom), "--out", str(run),
                             "--qpg-layers", "decoder.blocks.4.*", "--reps", "1", "--batch-size", "2",
                             "--device", "cpu")
    assert code == 0, err
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert (saved["lr"], saved["max_steps"], saved["shots"], saved["epochs"]) == (0.01, 2, 10, 1)
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
    assert "epoch 1/1" in out

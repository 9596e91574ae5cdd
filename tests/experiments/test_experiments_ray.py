"""`hqctf experiment --launcher ray`: the cells as Ray tasks on a local Ray (2 CPUs) give the local launcher's
results; a killed driver's rerun skips finished cells and resumes started ones; errors reach the CLI as they should."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hqctf_qiskit.cli.errors import is_user_error
from hqctf_qiskit.errors import ConfigError
from hqctf_qiskit.experiments.grid import ExperimentSpec, run_experiment
from hqctf_qiskit.experiments.launchers import LocalLauncher, RayLauncher, task_error_cause
from hqctf_qiskit.training.ownership import LOCK_NAME, claim_new_run, read_owner

from helpers import one_error_line, run_cli

# a small local Ray: 2 CPUs, no dashboard, the smallest object store, worker output not copied to the test's
RAY_OPTIONS = {"num_cpus": 2, "include_dashboard": False, "object_store_memory": 80 * 2**20, "log_to_driver": False}
TINY = {"image_size": 32, "epochs": 3, "samples_per_epoch": 8, "batch_size": 4, "reps": 1, "device": "cpu"}
WALL_CLOCK_COLUMNS = {"seconds_per_epoch"}  # the only column that may differ between two runs of one grid
DRIVER = f"""
import sys
from pathlib import Path
from hqctf_qiskit.experiments.grid import ExperimentSpec, run_experiment
from hqctf_qiskit.experiments.launchers import RayLauncher
run_experiment(ExperimentSpec.from_yaml(Path(sys.argv[1])), RayLauncher(init_options={RAY_OPTIONS!r}))
"""


def write_spec(folder: Path, data: Path, name: str, methods: list[str], seeds: list[int]) -> Path:
    spec_file = folder / f"{name}.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": name, "out": str(folder / name), "data": str(data), "layers": "decoder.blocks.4.*",
        "architectures": ["unet"], "methods": methods, "seeds": seeds, "evaluate_split": "val", "train": TINY,
    }))
    return spec_file


def read_rows(root: Path) -> list[dict[str, str]]:
    with (root / "results.csv").open(newline="") as handle:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK_COLUMNS} for row in csv.DictReader(handle)]


def finished(run: Path) -> bool:
    return (run / "summary.json").is_file() and (run / "checkpoint_final.pt").is_file()


def in_training(run: Path) -> bool:
    """Past its first epoch's checkpoint, not finished: killing it now leaves a run to resume mid-training."""
    return (run / "checkpoint_latest.pt").is_file() and not (run / "checkpoint_final.pt").is_file()


def kill_the_job_mid_grid(driver: subprocess.Popen, runs: list[Path]) -> None:
    """SIGKILL the driver, the Ray it started and the workers training cells (as a scheduler's time limit would),
    at a moment when some cells are finished and another is mid-training."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if any(finished(r) for r in runs) and any(in_training(r) for r in runs):
            os.killpg(driver.pid, signal.SIGKILL)  # the driver's session: itself, Ray's head processes
            for lock in (r / LOCK_NAME for r in runs):
                owner = read_owner(lock) if lock.exists() else None
                if owner is not None:  # a Ray worker, started by that driver
                    try:
                        os.kill(owner.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            driver.wait()
            return
        if driver.poll() is not None:
            pytest.fail(f"the driver ended (exit {driver.returncode}) before it could be killed mid-grid:\n"
                        f"{driver.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("no moment with finished cells and one mid-training within 10 minutes")


def wait_until_owner_is_gone(run: Path) -> None:
    """A killed worker's pid may linger a moment (not yet reaped); the rerun would then call the run busy."""
    deadline = time.monotonic() + 60
    while (run / LOCK_NAME).exists() and time.monotonic() < deadline:
        owner = read_owner(run / LOCK_NAME)
        if owner is not None and owner.is_running() is False:
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_ray_gives_the_local_results_and_a_killed_driver_resumes(tmp_path, tiny_phantom):
    ray = pytest.importorskip("ray")
    # three cells on Ray's two CPUs: when the first finishes, the third starts (a moment with a cell finished and
    # another mid-training comes in every ordering)
    methods, seeds = ["classical", "qpg-affine", "lowrank"], [0]
    run_experiment(ExperimentSpec.from_yaml(write_spec(tmp_path, tiny_phantom, "local", methods, seeds)),
                   LocalLauncher(threads=1))  # one thread, as each Ray task has: the same arithmetic

    ray_spec = write_spec(tmp_path, tiny_phantom, "ray", methods, seeds)
    root = tmp_path / "ray"
    runs = [root / "unet" / m / f"seed{s}" for m in methods for s in seeds]
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(ray_spec)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        kill_the_job_mid_grid(driver, runs)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # whatever that driver's session still holds
        except ProcessLookupError:
            pass
        driver.stdout.close()
    done_before = {r: (r / "checkpoint_final.pt").stat().st_mtime_ns for r in runs if finished(r)}
    resumable = [r for r in runs if in_training(r)]
    assert done_before and resumable
    assert all((r / LOCK_NAME).exists() for r in resumable), "the killed workers' locks are left behind"
    for run in resumable:
        wait_until_owner_is_gone(run)

    run_experiment(ExperimentSpec.from_yaml(ray_spec), RayLauncher(init_options=RAY_OPTIONS))
    assert not ray.is_initialized(), "the launcher stops the Ray it started"
    for run, stamp in done_before.items():
        assert (run / "checkpoint_final.pt").stat().st_mtime_ns == stamp, f"{run} was trained again"
    assert all(finished(r) and not (r / LOCK_NAME).exists() for r in runs)
    assert read_rows(root) == read_rows(tmp_path / "local")

    stamps = {r: (r / "checkpoint_final.pt").stat().st_mtime_ns for r in runs}
    run_experiment(ExperimentSpec.from_yaml(ray_spec), RayLauncher(init_options=RAY_OPTIONS))
    assert {r: (r / "checkpoint_final.pt").stat().st_mtime_ns for r in runs} == stamps, "finished cells are skipped"


@pytest.mark.parametrize("option, value", [("--address", "auto"), ("--gpus-per-run", "1")])
def test_ray_only_options_are_refused_with_the_local_launcher(tmp_path, capsys, option, value):
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text("name: x\n")
    code, _, err = run_cli(capsys, "experiment", spec_file, option, value)
    assert one_error_line(code, err) == f"error: {option}: only with --launcher ray (the local launcher runs the cells in this process)"


def test_the_launcher_option_offers_every_launcher():
    from hqctf_qiskit.cli.experiment import experiment
    from hqctf_qiskit.experiments.launchers import LAUNCHERS

    option = next(p for p in experiment.params if p.name == "launcher")
    assert list(option.type.choices) == list(LAUNCHERS) and option.default == "local"


def test_missing_ray_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    spec_file = tmp_path / "exp.yaml"
    spec_file.write_text("name: x\n")
    code, _, err = run_cli(capsys, "experiment", spec_file, "--launcher", "ray")
    assert one_error_line(code, err) == "error: --launcher ray: Ray is not installed; pip install 'hqctf-qiskit[ray]'"


@pytest.fixture(scope="module")
def ray_session():
    """One small local Ray for the tests below (the launcher uses a Ray already running in its process)."""
    ray = pytest.importorskip("ray")
    ray.init(**RAY_OPTIONS)
    yield ray
    ray.shutdown()


def test_a_cell_with_bad_input_fails_in_one_line_naming_the_cell(tmp_path, tiny_phantom, capsys, ray_session):
    spec_file = write_spec(tmp_path, tiny_phantom, "busy", ["classical"], [0])
    busy = claim_new_run(tmp_path / "busy" / "unet" / "classical" / "seed0")  # another live process holds the cell
    try:
        code, _, err = run_cli(capsys, "experiment", spec_file, "--launcher", "ray")
    finally:
        busy.release()
    line = one_error_line(code, err)
    assert line.startswith("error: experiment cell unet/classical/seed0: --out: "), line
    assert "is in use by another hqctf process" in line


def test_a_cell_asking_for_more_cpus_than_the_machine_has_is_refused(tmp_path, tiny_phantom, capsys, ray_session):
    spec_file = write_spec(tmp_path, tiny_phantom, "wide", ["classical"], [0])
    cpus = int(ray_session.cluster_resources()["CPU"])
    code, _, err = run_cli(capsys, "experiment", spec_file, "--launcher", "ray", "--cpus-per-run", cpus + 1)
    assert one_error_line(code, err) == (f"error: --cpus-per-run: {cpus + 1} per run, but this machine's Ray has "
                                         f"{cpus} CPU(s)")


def test_task_errors_reach_the_cli_as_the_cell_raised_them(ray_session):
    """Ray wraps a task's exception; unwrapped, bad input stays one line and a bug keeps the worker's traceback."""

    def bad_input():
        raise ConfigError("exp.yaml: train: epochs: must be >= 1, got 0")

    def bug():
        return {}["missing"]

    for task, kind in ((bad_input, ConfigError), (bug, KeyError)):
        with pytest.raises(ray_session.exceptions.RayTaskError) as caught:
            ray_session.get(ray_session.remote(task).remote())
        assert len(str(caught.value).splitlines()) > 1, "Ray's wrapper holds the remote traceback"
        cause = task_error_cause(caught.value)
        assert type(cause) is kind and is_user_error(cause) == (kind is ConfigError)
    assert str(task_error_cause(caught.value)) == "'missing'"
    assert "in bug" in str(caught.value), "the bug's traceback names the worker's frame"

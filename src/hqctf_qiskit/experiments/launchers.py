"""Launchers: who runs an experiment's unfinished cells — this process one after another, or Ray tasks in parallel.

Each launcher has one method, ``run(spec, root, splits_file, cells)``, and runs :func:`.cells.run_cell` for every
cell; the driver has written the experiment's split before and gathers the results after, the same way for both.

Why Ray *core tasks* and not Ray Tune: a grid cell is a fixed configuration, not a trial of a search, and it already
is an ordinary run folder with its own checkpoints, resume and ownership lock. A task per cell asks Ray for exactly
what is missing (place each cell on a worker with C CPUs and G GPUs, run them in parallel, return errors), while Tune
would add a second layer of trial folders, checkpoints and restore logic that duplicates the run folder's, and a
search/scheduler machinery the grid does not use.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import ConfigError
from .cells import is_finished, run_cell

if TYPE_CHECKING:
    from .grid import Cell, ExperimentSpec

log = logging.getLogger(__name__)

RAY_MISSING = "--launcher ray: Ray is not installed; pip install 'hqctf-qiskit[ray]'"
ENV_PREFIX = "HQCTF_"  # the package's settings (cache folder, native kernels, runs root) travel to every worker


class Launcher(Protocol):
    def run(self, spec: ExperimentSpec, root: Path, splits_file: Path, cells: list[Cell]) -> None:
        """Run every cell (finished ones are skipped by run_cell itself); raise the first cell's error."""


@dataclass(frozen=True)
class LocalLauncher:
    """The cells one after another in this process (the default). ``threads``: torch CPU threads while they run
    (None: torch's default), so ``--cpus-per-run`` means the same for both launchers."""

    threads: int | None = None

    def run(self, spec: ExperimentSpec, root: Path, splits_file: Path, cells: list[Cell]) -> None:
        import torch

        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            for index, cell in enumerate(cells, 1):
                run_cell(spec, root, splits_file, cell, progress=f"[{index}/{len(cells)}] ")
        finally:
            torch.set_num_threads(before)


@dataclass(frozen=True)
class RayLauncher:
    """Every cell as one Ray task with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (a fraction shares a GPU).

    ``address``: None starts a Ray on this machine with its CPUs (and stops it at the end); ``auto`` or
    ``ray://host:port`` joins a running cluster, whose workers must see the experiment folder and the data at the same
    paths (a shared file system) and have this package installed. A Ray already initialised in this process (a test,
    a notebook) is used as it is. ``init_options``: more ``ray.init`` keywords (tests keep Ray small with them).
    """

    address: str | None = None
    cpus_per_run: int = 1
    gpus_per_run: float = 0.0
    init_options: dict[str, Any] = field(default_factory=dict)

    def run(self, spec: ExperimentSpec, root: Path, splits_file: Path, cells: list[Cell]) -> None:
        todo = [cell for cell in cells if not is_finished(spec, root, cell)]
        log.info("%d of %d cell(s) finished already; %d to run on Ray", len(cells) - len(todo), len(cells), len(todo))
        if not todo:
            return
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            self._init(ray)
        try:
            if self.address is None:  # this machine's Ray: a cluster may grow, this machine does not
                self._check_fits(ray.cluster_resources())
            # workers may start in another folder (or on another machine): paths travel absolute
            self._run_tasks(ray, _with_absolute_data(spec), root.resolve(), splits_file.resolve(), todo)
        finally:
            if started_here:
                ray.shutdown()

    def _init(self, ray: Any) -> None:
        try:
            ray.init(address=self.address, **self.init_options)
        except ConnectionError as exc:  # no cluster at that address: the user's to fix
            raise ConfigError(f"--address {self.address}: {_first_line(exc)}") from exc

    def _check_fits(self, resources: dict[str, float]) -> None:
        """A task asking for more than this machine has would wait forever; say so instead."""
        for option, wanted, kind in (("--cpus-per-run", self.cpus_per_run, "CPU"),
                                     ("--gpus-per-run", self.gpus_per_run, "GPU")):
            have = resources.get(kind, 0.0)
            if wanted > have:
                raise ConfigError(f"{option}: {wanted:g} per run, but this machine's Ray has {have:g} {kind}(s)")

    def _worker_env(self) -> dict[str, str]:
        """The driver's ``HQCTF_*`` settings; at 0 GPUs per run no GPU either (Ray leaves ``CUDA_VISIBLE_DEVICES``
        alone for tasks without GPUs, so cells with ``device: auto`` would all share the node's first GPU)."""
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        if not self.gpus_per_run:
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def _run_tasks(self, ray: Any, spec: ExperimentSpec, root: Path, splits_file: Path,
                   cells: list[Cell]) -> None:
        task = ray.remote(run_cell_in_worker).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                                      runtime_env={"env_vars": self._worker_env()})
        level = logging.getLogger("hqctf_qiskit").getEffectiveLevel()
        names = {task.remote(spec, root, splits_file, cell, self.cpus_per_run, level): cell.name
                 for cell in cells}
        pending, finished = list(names), 0
        log.info("submitted %d cell(s) to Ray (%d CPU, %g GPU each)", len(names), self.cpus_per_run,
                 self.gpus_per_run)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                status = ray.get(done[0])
                finished += 1
                log.info("[%d/%d] %s: %s", finished, len(names), names[done[0]],
                         "was finished" if status == "done" else "finished")
        except ray.exceptions.RayTaskError as exc:
            _cancel(ray, pending)
            raise task_error_cause(exc) from exc
        except BaseException:  # Ctrl-C, a lost worker: running cells stop (their lock is released), queued ones go
            _cancel(ray, pending)
            raise


def run_cell_in_worker(spec: ExperimentSpec, root: Path, splits_file: Path, cell: Cell, threads: int,
                       log_level: int) -> str:
    """The Ray task: torch uses the task's CPUs only (not every core of the node), logs reach the driver."""
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    logging.getLogger("hqctf_qiskit").setLevel(log_level)
    return run_cell(spec, root, splits_file, cell)


def task_error_cause(exc: BaseException) -> BaseException:
    """The exception the cell raised, not Ray's wrapper: the CLI then shows bad input as one line, and a bug with
    the worker's traceback (kept in the wrapper, which is chained as the cause's ``__cause__``)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _with_absolute_data(spec: ExperimentSpec) -> ExperimentSpec:
    if spec.data is None or Path(spec.data).is_absolute():
        return spec
    return spec.model_copy(update={"data": str(Path(spec.data).resolve())})


def _cancel(ray: Any, refs: list[Any]) -> None:
    for ref in refs:
        ray.cancel(ref)


def import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise ConfigError(RAY_MISSING) from None
    return ray


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _local(address: str | None, cpus_per_run: int | None, gpus_per_run: float | None) -> Launcher:
    for option, value in (("--address", address), ("--gpus-per-run", gpus_per_run)):
        if value is not None:
            raise ConfigError(f"{option}: only with --launcher ray (the local launcher runs the cells in this process)")
    return LocalLauncher(threads=cpus_per_run)


def _ray(address: str | None, cpus_per_run: int | None, gpus_per_run: float | None) -> Launcher:
    import_ray()  # a missing Ray fails before the split is written, not after
    return RayLauncher(address=address, cpus_per_run=cpus_per_run or 1, gpus_per_run=gpus_per_run or 0.0)


LAUNCHERS: dict[str, Callable[[str | None, int | None, float | None], Launcher]] = {"local": _local, "ray": _ray}


def make_launcher(name: str, address: str | None = None, cpus_per_run: int | None = None,
                  gpus_per_run: float | None = None) -> Launcher:
    """The launcher ``--launcher`` names; an option that means nothing to it is refused in one line."""
    if name not in LAUNCHERS:
        raise ConfigError(f"--launcher: unknown launcher {name!r}; choose from {', '.join(LAUNCHERS)}")
    return LAUNCHERS[name](address, cpus_per_run, gpus_per_run)

"""The run config: five sections (data, model, weights, backend, optim) validated once, by pydantic.

Config files and the command line speak FLAT option keys (``epochs: 3``, ``--epochs 3``) as run folders always
have; code reads ``config.<section>.<field>``. :meth:`TrainConfig.from_flat` maps one to the other and turns any
validation error into one line naming the option and where its value came from. Every field declares its help and
choices next to its type (:class:`~.fields.Option`); the CLI options are generated from them.

Names are checked against the registries that define them (architectures, mappings, backends, gradients), and
backend values with the backends' own rules, imported when a config is validated; those modules load no qiskit.
The ansatz's names (rotation, entanglement) live with the circuit builder (qiskit), so they are checked only when
QPG layers are selected or a ``qpg`` rank budget is counted: a classical or low-rank run does not import qiskit.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo

from ..errors import ConfigError, HqctfError
from .fields import Option, OptionError, option_of, resolve
from .messages import Source, config_error, label_for

DEFAULT_CLASSES = ("background", "kidney", "tumor")


def _is_selected(layers: str) -> bool:
    return layers.strip().lower() not in ("", "none")


def _comma_list(value: Any) -> Any:
    """``"a,b"`` (the command line's form, also accepted in files) → ``["a", "b"]``; anything else unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Section(BaseModel):
    """A group of options; unknown keys and assignment after validation are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads yes/no/on/off as booleans, which pydantic would take as 1/0 (``epochs: yes`` trained one
        epoch): a number field refuses them."""
        if isinstance(value, bool):
            annotation = cls.model_fields[info.field_name].annotation
            kinds = set(get_args(annotation)) or {annotation}
            if bool not in kinds and kinds & {int, float}:
                raise ValueError(f"must be {'a whole number' if float not in kinds else 'a number'}, got {value!r}")
        return value

    def check_choices(self) -> None:
        """Named choices and owner-written checks of each field (resolving their registries now)."""
        for name, info in type(self).model_fields.items():
            option, value = option_of(info), getattr(self, name)
            key = option.key or name
            if option.check is not None:
                try:
                    resolve(option.check)(value)
                except HqctfError as exc:  # the owner's message names the option; keep only the problem
                    raise OptionError(key, str(exc).removeprefix(f"--{key.replace('_', '-')}: ")) from None
                continue
            allowed = option.choice_names()
            if value is not None and isinstance(allowed, list) and value not in allowed:
                raise OptionError(key, f"unknown value {value!r}; choose from {', '.join(allowed)}")


class DataConfig(Section):
    source: Annotated[str | None, Option(
        "A KiTS, nnU-Net or MSD folder, a folder of DICOM patient folders, or a CSV/JSON list of cases.", key="data",
        default_text="the synthetic phantom")] = None
    classes: Annotated[list[str], Option("Comma-separated class names (label value = position).",
                                         metavar="NAME,NAME,...")] = Field(
        default_factory=lambda: list(DEFAULT_CLASSES))
    label_map: Annotated[str | None, Option("Label remap, e.g. 2:1,3:1 (unlisted labels become background).")] = None
    structures: Annotated[str | None, Option(
        "RTSTRUCT structures to classes (needed for DICOM labels): NAME:class pairs, '|' between aliases, globs, "
        "case-insensitive (e.g. 'GTV*:tumor,Kidney_L|Kidney Left:kidney'), or a YAML file.",
        metavar="NAME:CLASS,...|FILE")] = None
    window: Annotated[list[float], Option("HU window LOW,HIGH.", metavar="LOW,HIGH")] = Field(
        default_factory=lambda: [-79.0, 304.0])
    spacing: Annotated[float | Literal["auto", "none"], Option(
        "In-plane mm per pixel that slices are resampled to: 'auto' (the median of the training and validation "
        "cases, written to the run's config.yaml as the number), a number, or 'none' (each whole slice squeezed to "
        "--patch-size, as runs made before this option did).", metavar="auto|MM|none")] = "auto"
    patch_size: Annotated[int, Option(
        "In-plane size of the training crops, and of the squeezed slice with --spacing none.",
        metavar="N", aliases=("image_size",)), Field(ge=1)] = 128
    foreground_fraction: Annotated[float | None, Option("Share of sampled slices with foreground."),
                                   Field(ge=0, le=1)] = 0.5
    augment: Annotated[str, Option(
        "Training augmentation: 'default' (MONAI transforms, see README), 'none', or a YAML file of transforms.",
        metavar="default|none|FILE")] = "default"
    workers: Annotated[int | None, Option("DataLoader worker processes (augmentation runs in them).",
                                          default_text="from the CPU cores"), Field(ge=0)] = None
    splits: Annotated[str | None, Option("Reuse a splits.json (split by case).")] = None
    val_fraction: Annotated[float, Option("Share of cases for validation.")] = 0.2
    test_fraction: Annotated[float, Option("Share of cases for test.")] = 0.2
    folds: Annotated[int | None, Option(
        "Cross-validation: split the non-test cases into K patient folds (needs --fold).", metavar="K"),
        Field(ge=2)] = None
    fold: Annotated[int | None, Option("The cross-validation fold used for validation, 0 to K-1.", metavar="k"),
                    Field(ge=0)] = None
    phantom_cases: Annotated[int, Option("Cases of the default phantom dataset."), Field(ge=1)] = 12

    _split_lists = field_validator("classes", "window", mode="before")(_comma_list)

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, classes: list[str]) -> list[str]:
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"need at least two distinct class names, got {classes}")
        return classes

    @field_validator("spacing", mode="before")
    @classmethod
    def _spacing(cls, value: Any) -> Any:
        """'auto', 'none' (also YAML null) or a positive, finite number of mm (the command line gives text)."""
        if value is None:
            return "none"
        if isinstance(value, str) and value.strip().lower() in ("auto", "none"):
            return value.strip().lower()
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"'auto', 'none' or a spacing in mm > 0, got {value!r}")
        return number

    @property
    def inplane_spacing(self) -> float | None:
        """The mm per pixel slices are resampled to; None: whole slices squeezed to the patch size (the legacy
        way). A run resolves 'auto' when it starts, so meeting it here is a bug."""
        if self.spacing == "auto":
            raise ValueError("spacing 'auto' is resolved when a run starts; this config has not been")
        return None if self.spacing == "none" else float(self.spacing)

    @field_validator("window")
    @classmethod
    def _ordered_window(cls, window: list[float]) -> list[float]:
        if len(window) != 2 or window[0] >= window[1]:
            raise ValueError(f"need LOW,HIGH with LOW < HIGH, got {window}")
        return window

    @model_validator(mode="after")
    def _fold_in_range(self) -> "DataConfig":
        if self.fold is not None and self.folds is None:
            raise OptionError("fold", "needs --folds K")
        if self.folds is not None and self.fold is None:
            raise OptionError("folds", f"give --fold k too (0 to {self.folds - 1})")
        if self.folds is not None and self.fold is not None and self.fold >= self.folds:
            raise OptionError("fold", f"{self.fold} is out of range for --folds {self.folds} (0 to {self.folds - 1})")
        return self


class ModelConfig(Section):
    arch: Annotated[str, Option("smp architecture: {choices}.", choices="..models:ARCHITECTURES")] = "unet"
    encoder: Annotated[str, Option("smp encoder (e.g. resnet18, resnet34).")] = "resnet18"
    encoder_weights: Annotated[str, Option(
        "Encoder start: 'none' (random, offline) or smp pretrained weights such as 'imagenet' (downloaded or "
        "cached by smp; an export holds the trained weights).", metavar="NAME")] = "none"

    @field_validator("arch")
    @classmethod
    def _lower(cls, arch: str) -> str:
        return arch.lower()


class WeightsConfig(Section):
    """Where the weights of the selected layers come from: QPG circuits, or low-rank factors (the baseline)."""

    qpg_layers: Annotated[str, Option("Roles (encoder, decoder, head, all) or globs; 'none' = classical.")] = "decoder"
    mapping: Annotated[str, Option("Probabilities to weights: {choices}.",
                                   choices="..qpg.mappings:MAPPINGS")] = "affine"
    chunk: Annotated[int, Option("Weights per basis state for the chunked mapping."), Field(ge=1)] = 32
    reps: Annotated[int, Option("Ansatz repetitions."), Field(ge=0)] = 2
    rotation: Annotated[str, Option("Rotation block: {choices}.",
                                    choices="..circuits.ansatz:ROTATION_BLOCKS")] = "ry"
    entanglement: Annotated[str, Option("Entangling pattern: {choices} ('none': a product state).",
                                        choices="..circuits.ansatz:ENTANGLEMENTS")] = "linear"
    generator: Annotated[str, Option(
        "What gives the --qpg-layers their probabilities: 'quantum' (the ansatz circuits on --backend) or "
        "'hypernet' (the classical control: the same parameters per channel through a fixed random projection "
        "and a softmax; no circuits).", choices=("quantum", "hypernet"))] = "quantum"
    lowrank_layers: Annotated[str, Option("Low-rank baseline on these layers (same syntax as --qpg-layers).")] = "none"
    rank: Annotated[int | None, Option("Rank of the low-rank layers."), Field(ge=1)] = None
    rank_budget: Annotated[Literal["qpg"] | int | None, Option(
        "Instead of --rank: 'qpg' (the QPG budget of those layers) or a parameter count.", metavar="qpg|N")] = None

    @field_validator("rank_budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> Any:
        if value is None or value == "qpg":
            return value
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
            raise ValueError(f"'qpg' or a number of parameters, got {value!r}")
        return int(text)

    @model_validator(mode="after")
    def _one_rank_rule(self) -> "WeightsConfig":
        if self.has_lowrank and (self.rank is None) == (self.rank_budget is None):
            raise OptionError("lowrank_layers", "give exactly one of --rank N or --rank-budget qpg|N")
        return self

    @property
    def has_qpg(self) -> bool:
        return _is_selected(self.qpg_layers)

    @property
    def has_lowrank(self) -> bool:
        return _is_selected(self.lowrank_layers)

    @property
    def runs_circuits(self) -> bool:
        """QPG layers whose probabilities come from circuits (a backend), not from the hypernet control."""
        return self.has_qpg and self.generator == "quantum"

    @property
    def method(self) -> str:
        """The method's name as experiments write it: classical, lowrank, qpg-<mapping>[-product],
        hypernet-<mapping>."""
        if not self.has_qpg:
            return "lowrank" if self.has_lowrank else "classical"
        if self.generator == "hypernet":
            return f"hypernet-{self.mapping}"
        return f"qpg-{self.mapping}" + ("-product" if self.entanglement == "none" else "")

    def ansatz(self) -> Any:
        from ..circuits.ansatz import AnsatzSpec

        return AnsatzSpec(reps=self.reps, rotation=self.rotation, entanglement=self.entanglement)

    def mapping_options(self) -> dict[str, Any]:
        return {"chunk": self.chunk} if self.mapping == "chunked" else {}


class BackendConfig(Section):
    """What runs the QPG circuits. The rules are the backends' own (``backends.spec``, ``engines.cost``): each value
    is checked here with them; combinations (e.g. shots for a sampling device) when a run opens its backend."""

    name: Annotated[str, Option("Backend: {choices}.", key="backend", choices="..backends.registry:backend_choices",
                                check="..backends.registry:backend_family")] = "torch"
    shots: Annotated[int | None, Option("Shots per circuit.", default_text="exact probabilities",
                                        check="..engines.cost:check_shots")] = None
    gradient: Annotated[str, Option("Sampler backends' gradient: {choices}.", choices="..engines.cost:GRADIENTS",
                                    check="..engines.cost:check_gradient")] = "param-shift"
    pack: Annotated[bool, Option("Sampler backends: several channels per wide circuit.")] = False
    noise: Annotated[str | None, Option(
        "Torch engine: train under this device's noise (fake_* or ibm_*) on the qubits the circuits will run on.",
        metavar="DEVICE", default_text="noiseless", check="..backends.noise:check_noise_name")] = None
    mitigation: Annotated[str, Option("Readout mitigation of sampled probabilities: {choices}.",
                                      choices="..engines.mitigation:MITIGATIONS")] = "none"
    twirling: Annotated[bool, Option("ibm_* sampler: Pauli twirling of gates and measurements.")] = False
    dd: Annotated[str | None, Option("ibm_* sampler: dynamical decoupling sequence (e.g. XY4).", metavar="SEQUENCE",
                                     default_text="off")] = None
    optimization_level: Annotated[int, Option("Transpiler optimization level: {choices}.",
                                              choices="..backends.spec:OPTIMIZATION_LEVELS",
                                              check="..backends.spec:check_optimization_level")] = 1

    @model_validator(mode="after")
    def _noise_on_torch(self) -> "BackendConfig":
        from ..backends.noise import check_noise_backend

        try:
            check_noise_backend(self.name, self.noise)
        except HqctfError as exc:
            raise OptionError("noise", str(exc).removeprefix("--noise: ")) from None
        return self

    @property
    def is_hardware(self) -> bool:
        from ..backends.registry import backend_family

        return backend_family(self.name).kind == "ibm"


class OptimConfig(Section):
    """How the run trains: device, length, batch, learning rates, schedule, seed and run folder."""

    device: Annotated[str, Option("Device: {choices}.", choices=("auto", "cpu", "cuda"))] = "auto"
    epochs: Annotated[int, Option("Epochs."), Field(ge=1)] = 10
    max_steps: Annotated[int | None, Option("Stop after N optimizer steps (smoke runs)."), Field(ge=1)] = None
    samples_per_epoch: Annotated[int | None, Option("Slices drawn per epoch.", default_text="all training slices"),
                                 Field(ge=1)] = None
    batch_size: Annotated[int, Option("Batch size."), Field(ge=1)] = 8
    lr: Annotated[float, Option("Learning rate of classical parameters."), Field(gt=0)] = 1e-3
    qpg_lr: Annotated[float, Option("Learning rate of circuit and mapping parameters."), Field(gt=0)] = 1e-2
    weight_decay: Annotated[float, Option("AdamW weight decay."), Field(ge=0)] = 1e-4
    schedule: Annotated[str, Option("Learning-rate schedule: {choices}.",
                                    choices=("cosine", "poly", "constant"))] = "cosine"
    amp: Annotated[bool, Option("Mixed precision on CUDA.")] = True
    seed: Annotated[int, Option("Seed of the run (split, initialisation, sampling, transpiler).")] = 0
    out: Annotated[str | None, Option(
        "Run folder.", default_text="a new folder under the runs root ($HQCTF_RUNS or ./runs)")] = None


class TrainConfig(BaseModel):
    """Everything a training run is given; saved as the run folder's ``config.yaml`` (flat keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    SECTIONS: ClassVar[tuple[str, ...]] = ("data", "model", "weights", "backend", "optim")

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)

    @model_validator(mode="after")
    def _check_names(self) -> "TrainConfig":
        for section in (self.data, self.model, self.weights, self.backend, self.optim):
            section.check_choices()
        return self

    @model_validator(mode="after")
    def _hypernet_runs_no_circuits(self) -> "TrainConfig":
        """A hypernet run evaluates no circuit: a backend, shots or noise would be silently ignored."""
        backend = self.backend
        if self.weights.generator == "hypernet" and self.weights.has_qpg and (
                backend.name != "torch" or backend.shots is not None or backend.noise is not None):
            raise OptionError("generator", "hypernet runs no circuits; leave --backend torch and --shots, --noise "
                                           "unset")
        return self

    # -- flat keys <-> sections ---------------------------------------------------------------------------------
    @classmethod
    def from_flat(cls, values: Mapping[str, Any], source: Source = "config") -> "TrainConfig":
        """A validated config from flat options (dashes or underscores); ``source`` names where they came from:
        one label for all (``"--config: my.yaml"``) or one per key (``{"epochs": "--epochs"}``)."""
        nested: dict[str, dict[str, Any]] = {section: {} for section in cls.SECTIONS}
        written: dict[str, str] = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            key = ALIASES.get(key, key)
            if key in written:  # an option given under its name and an old name (an alias) too
                raise ConfigError(f"{label_for(source, key, str(raw_key))}: given twice (as {written[key]} and "
                                  f"{raw_key}); keep one")
            if key not in FLAT_KEYS:
                close = difflib.get_close_matches(key, list(FLAT_KEYS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"{label_for(source, key, str(raw_key))}: unknown option{hint}")
            section, name = FLAT_KEYS[key]
            nested[section][name] = value
            written[key] = str(raw_key)
        try:
            return cls.model_validate(nested)
        except ValidationError as exc:
            raise config_error(exc, lambda key: label_for(source, key, written.get(key, key)),
                               FIELD_KEYS) from None

    def to_flat(self) -> dict[str, Any]:
        """The flat options, in schema order: what ``config.yaml`` holds (with a ``versions`` block)."""
        flat: dict[str, Any] = {}
        for section_name in self.SECTIONS:
            section = getattr(self, section_name)
            dumped = section.model_dump()
            for name, info in type(section).model_fields.items():
                flat[option_of(info).key or name] = dumped[name]
        return flat

    def with_options(self, **changes: Any) -> "TrainConfig":
        """A copy with some flat options changed, validated again (``config.with_options(backend="torch")``)."""
        return type(self).from_flat({**self.to_flat(), **changes}, source="config")

    # -- what the library needs from it -------------------------------------------------------------------------
    def engine_options(self) -> dict[str, Any]:
        """Options for ``make_engine``: the exact torch engine takes shots only; sampler backends take all."""
        backend, seed = self.backend, self.optim.seed
        options: dict[str, Any] = {}
        if backend.shots is not None:
            options.update(shots=backend.shots, seed=seed)
        if backend.name != "torch":
            options.update(gradient=backend.gradient, pack=backend.pack,
                           optimization_level=backend.optimization_level, seed=seed)
        if backend.noise is not None:  # the device places the circuits: its layout options apply
            options.update(noise=backend.noise, pack=backend.pack, optimization_level=backend.optimization_level,
                           seed=seed)
        return options


def _flat_keys() -> dict[str, tuple[str, str]]:
    keys: dict[str, tuple[str, str]] = {}
    for section in TrainConfig.SECTIONS:
        section_type = TrainConfig.model_fields[section].annotation
        for name, info in section_type.model_fields.items():
            key = option_of(info).key or name
            assert key not in keys, f"flat key {key} used twice"
            keys[key] = (section, name)
    return keys


FLAT_KEYS: dict[str, tuple[str, str]] = _flat_keys()  # flat option key -> (section, field)
FIELD_KEYS: dict[tuple[str, str], str] = {place: key for key, place in FLAT_KEYS.items()}


def field_info(key: str) -> FieldInfo:
    """The pydantic FieldInfo behind a flat option key (its type, constraints, default and Option)."""
    section, name = FLAT_KEYS[key]
    return TrainConfig.model_fields[section].annotation.model_fields[name]


# older names of options (config files, old run folders, the command line) -> their flat key
ALIASES: dict[str, str] = {alias: key for key in FLAT_KEYS for alias in option_of(field_info(key)).aliases}

"""The run config: sections validated once (``schema``), its field metadata for the CLI (``fields``), messages
that name the option and its source (``messages``), and config files (``files``)."""

from ..errors import ConfigError
from .files import library_versions, load_run_config, options_file, read_yaml_mapping, save_config
from .schema import (
    FLAT_KEYS,
    BackendConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    WeightsConfig,
)

__all__ = [
    "ConfigError", "TrainConfig", "DataConfig", "ModelConfig", "WeightsConfig", "BackendConfig", "OptimConfig",
    "FLAT_KEYS", "library_versions", "load_run_config", "options_file", "read_yaml_mapping", "save_config",
]

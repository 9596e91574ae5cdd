"""smp architectures by name and one factory (no pretrained weights: this toolkit runs offline)."""

from __future__ import annotations

from typing import Any

from torch import nn

from .errors import ConfigError

ARCHITECTURES: dict[str, str] = {
    "unet": "Unet",
    "unetplusplus": "UnetPlusPlus",
    "deeplabv3plus": "DeepLabV3Plus",
    "fpn": "FPN",
    "pspnet": "PSPNet",
    "linknet": "Linknet",
    "manet": "MAnet",
}


def build_model(
    arch: str = "unet", encoder: str = "resnet18", in_channels: int = 1, classes: int = 3, **kwargs: Any
) -> nn.Module:
    """An smp segmentation model with randomly initialized weights (``encoder_weights=None``)."""
    import segmentation_models_pytorch as smp

    key = arch.lower()
    if key not in ARCHITECTURES:
        raise ConfigError(f"--arch: unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    if encoder not in smp.encoders.get_encoder_names():
        raise ConfigError(f"--encoder: unknown encoder {encoder!r} (e.g. resnet18, resnet34)")
    cls = getattr(smp, ARCHITECTURES[key])
    return cls(encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=classes, **kwargs)

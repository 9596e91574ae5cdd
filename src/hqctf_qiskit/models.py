"""smp architectures by name and one factory.

Encoders start from random weights by default (this toolkit runs offline). ``encoder_weights`` (e.g. ``imagenet``)
asks smp for pretrained weights, which it reads from the Hugging Face cache or downloads; a failure to reach the
weight host with nothing cached becomes one line naming ``--encoder-weights``. Only network failures are turned
into that line: anything else smp or the hub raises is a bug and keeps its traceback.
"""

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

NO_WEIGHTS = "none"


def build_model(
    arch: str = "unet", encoder: str = "resnet18", in_channels: int = 1, classes: int = 3,
    encoder_weights: str | None = None, **kwargs: Any,
) -> nn.Module:
    """An smp segmentation model; the encoder is random unless ``encoder_weights`` names pretrained weights.

    With one input channel smp adapts a pretrained first convolution itself (summing its RGB kernels).
    """
    import segmentation_models_pytorch as smp

    key = arch.lower()
    if key not in ARCHITECTURES:
        raise ConfigError(f"--arch: unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    if encoder not in smp.encoders.get_encoder_names():
        raise ConfigError(f"--encoder: unknown encoder {encoder!r} (e.g. resnet18, resnet34)")
    weights = check_encoder_weights(encoder, encoder_weights)
    cls = getattr(smp, ARCHITECTURES[key])
    if weights is None:
        return cls(encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=classes, **kwargs)
    try:
        return cls(encoder_name=encoder, encoder_weights=weights, in_channels=in_channels, classes=classes, **kwargs)
    except _network_errors() as exc:
        reason = " ".join(str(exc).split()).split(". ")[0][:200]  # the first sentence: the hub's are long
        raise ConfigError(f"--encoder-weights: {weights} weights for {encoder} are not cached and cannot be "
                          f"downloaded here ({type(exc).__name__}: {reason}); use --encoder-weights none or "
                          "pre-download them") from None


def check_encoder_weights(encoder: str, encoder_weights: str | None) -> str | None:
    """``None`` for random weights, else the weights' name, checked against what smp offers for ``encoder``."""
    if encoder_weights is None or encoder_weights.strip().lower() in ("", NO_WEIGHTS):
        return None
    from segmentation_models_pytorch.encoders import encoders as smp_encoders

    if encoder in smp_encoders:  # a timm universal ("tu-") encoder takes any tag: timm checks it
        offered = list(smp_encoders[encoder].get("pretrained_settings", {}))
        if encoder_weights not in offered:
            raise ConfigError(f"--encoder-weights: {encoder} has no {encoder_weights!r} weights; choose none"
                              f"{''.join(', ' + name for name in offered)}")
    return encoder_weights


def _network_errors() -> tuple[type[BaseException], ...]:
    """What the hub and torch.hub raise when the weight host cannot be reached and no copy is cached."""
    from urllib.error import URLError

    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [LocalEntryNotFoundError, OfflineModeIsEnabled, URLError,
                                         ConnectionError, TimeoutError]
    try:
        import httpx

        errors += [httpx.TransportError]
    except ImportError:  # an older huggingface_hub talks through requests
        pass
    try:
        import requests

        errors += [requests.ConnectionError, requests.Timeout]
    except ImportError:
        pass
    return tuple(errors)

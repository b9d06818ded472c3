"""Training losses: frequency, lip reading, perceptual, adversarial, pixel, and their total (eq. 11)."""
from vfhgan_core.losses.adversarial import AdversarialLoss, AdversarialLossConfig
from vfhgan_core.losses.frequency import FocalFrequencyLoss, FrequencyLossConfig
from vfhgan_core.losses.lipreading import LipReadingLoss, crop_mouths
from vfhgan_core.losses.perceptual import FeatureMatchingLoss, PerceptualLoss, PerceptualLossConfig, resolve_perceptual
from vfhgan_core.losses.radial_spectrum import RadialSpectrumLoss, RadialSpectrumLossConfig
from vfhgan_core.losses.total import LossConfig, VFHGANLoss

__all__ = [
    "AdversarialLoss", "AdversarialLossConfig", "FeatureMatchingLoss", "FocalFrequencyLoss", "FrequencyLossConfig",
    "LipReadingLoss", "LossConfig", "PerceptualLoss", "PerceptualLossConfig", "RadialSpectrumLoss",
    "RadialSpectrumLossConfig", "VFHGANLoss", "crop_mouths",
    "resolve_perceptual",
]

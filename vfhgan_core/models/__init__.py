"""Networks: the VFH-GAN generator, its discriminator, the lip reader and VGG19."""
from vfhgan_core.models.discriminator import DiscriminatorConfig, DiscriminatorOutput, PatchDiscriminator
from vfhgan_core.models.generator import GeneratorConfig, GeneratorOutput, VFHGANGenerator
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig, load_mpc001_checkpoint
from vfhgan_core.models.router import DegradationRouter, RouterConfig
from vfhgan_core.models.vgg import VGG19, VGGFeatures, load_vgg19_weights

__all__ = [
    "DegradationRouter", "DiscriminatorConfig", "DiscriminatorOutput", "GeneratorConfig", "GeneratorOutput", "LipReader",
    "LipReaderConfig", "PatchDiscriminator", "RouterConfig", "VFHGANGenerator", "VGG19", "VGGFeatures", "load_mpc001_checkpoint",
    "load_vgg19_weights",
]

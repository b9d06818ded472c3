"""Networks: the VFH-GAN generator, its discriminator, the lip reader and VGG19."""

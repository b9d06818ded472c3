"""Training losses: frequency, lip reading, perceptual, adversarial, pixel, and their total (eq. 11)."""

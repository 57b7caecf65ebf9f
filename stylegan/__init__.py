"""stylegan: StyleGAN and StyleGAN2 networks, training and tools on the fused ops of stylegan_ops (in progress:
the networks, `python -m stylegan.train` and the tools come in later issues)."""

"""Corruption processes of denoising autoencoders, applied per mini-batch, seeded."""

import torch

NOISES = ("masking", "gaussian", "salt_and_pepper")


class Corruption:
    """Corrupt a batch: ``masking``, additive ``gaussian`` or ``salt_and_pepper`` noise.

    Parameters
    ----------
    kind : {"masking", "gaussian", "salt_and_pepper"}
        ``masking`` zeroes a random fraction ``level`` of the entries; ``gaussian`` adds
        ``N(0, level²)``; ``salt_and_pepper`` sets a fraction ``level`` of the entries to the
        feature's minimum or maximum (each with probability 1/2).
    level : float
        Fraction of corrupted entries, or the Gaussian standard deviation.
    low, high : torch.Tensor, optional
        Per-feature minimum and maximum of the data (``salt_and_pepper`` only).
    """

    def __init__(
        self,
        kind: str,
        level: float,
        low: torch.Tensor | None = None,
        high: torch.Tensor | None = None,
    ):
        self.kind = kind
        self.level = level
        self.low = low
        self.high = high

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A corrupted copy of ``x``; ``x`` itself is left unchanged."""
        if self.kind == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return x + self.level * noise
        draw = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        hit = draw < self.level
        if self.kind == "masking":
            return x.masked_fill(hit, 0.0)
        salt = draw < self.level / 2
        replaced = torch.where(salt, self.high.to(x.dtype), self.low.to(x.dtype))
        return torch.where(hit, replaced, x)

    def __repr__(self) -> str:
        return f"Corruption(kind={self.kind!r}, level={self.level})"

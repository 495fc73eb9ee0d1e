"""Per-sample random masking shared between teacher and student (MAE style)."""
from typing import NamedTuple, Optional

import torch


class MaskIndices(NamedTuple):
    """Index tensors describing one random mask.

    Attributes:
        ids_keep (Tensor): ``(B, K)`` indices of the visible patches, in the
            order the encoders see them.
        ids_restore (Tensor): ``(B, L)`` permutation that puts the shuffled
            sequence ``[visible, masked]`` back into raster order.
        mask (Tensor): ``(B, L)`` float mask in raster order, 1 = masked.
    """
    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor


def num_visible(num_patches: int, mask_ratio: float) -> int:
    """Number of patches that stay visible (``int(L * (1 - ratio))``, >= 1)."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    return max(1, int(num_patches * (1 - mask_ratio)))


def masking_from_noise(noise: torch.Tensor, mask_ratio: float) -> MaskIndices:
    """Turn a noise tensor into a mask the MAE way.

    Per sample, the patches with the smallest noise values stay visible.

    Args:
        noise (Tensor): ``(B, L)`` noise, one value per patch.
        mask_ratio (float): fraction of the patches to mask.

    Returns:
        MaskIndices: ``ids_keep (B, K)``, ``ids_restore (B, L)``, ``mask (B, L)``.
    """
    if noise.dim() != 2:
        raise ValueError(f'noise must have shape (batch, patches), got {tuple(noise.shape)}')
    batch, length = noise.shape
    keep = num_visible(length, mask_ratio)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :keep]
    mask = torch.ones(batch, length, device=noise.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return MaskIndices(ids_keep, ids_restore, mask)


def random_masking(batch: int,
                   num_patches: int,
                   mask_ratio: float,
                   device: torch.device,
                   generator: Optional[torch.Generator] = None) -> MaskIndices:
    """Draw uniform noise and return the mask it defines (see ``masking_from_noise``)."""
    noise = torch.rand(batch, num_patches, device=device, generator=generator)
    return masking_from_noise(noise, mask_ratio)

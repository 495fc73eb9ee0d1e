from .masking import MaskIndices, masking_from_noise, random_masking
from .pos_embed import resize_pos_embed, sincos_pos_embed_2d

__all__ = [
    'MaskIndices', 'masking_from_noise', 'random_masking', 'resize_pos_embed',
    'sincos_pos_embed_2d'
]

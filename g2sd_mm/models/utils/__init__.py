from .key_mapping import mmpretrain_to_official, official_to_mmpretrain
from .mae_checkpoint import load_mae_checkpoint, load_mae_state_dict, read_mae_checkpoint
from .masking import MaskIndices, masking_from_noise, random_masking
from .pos_embed import resize_pos_embed, sincos_pos_embed_2d

__all__ = [
    'MaskIndices', 'masking_from_noise', 'random_masking', 'resize_pos_embed',
    'sincos_pos_embed_2d', 'official_to_mmpretrain', 'mmpretrain_to_official',
    'load_mae_checkpoint', 'load_mae_state_dict', 'read_mae_checkpoint'
]

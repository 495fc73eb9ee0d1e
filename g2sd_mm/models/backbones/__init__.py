from .masked_autoencoder_vit import MaskedAutoencoderViT
from .vit_classifier import G2SDDistilledViT, G2SDViT
from .vit_rel_pos import ViTRelPos
from .vitdet import ViTDet

__all__ = ['MaskedAutoencoderViT', 'ViTDet', 'ViTRelPos', 'G2SDViT', 'G2SDDistilledViT']

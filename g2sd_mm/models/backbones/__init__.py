from .masked_autoencoder_vit import MaskedAutoencoderViT

__all__ = ['MaskedAutoencoderViT']

from .base_distiller import BaseDistiller
from .generic_distiller import GenericDistiller

__all__ = ['BaseDistiller', 'GenericDistiller']

from .base_distiller import BaseDistiller
from .detection_distiller import DetectionDistiller
from .generic_distiller import GenericDistiller

__all__ = ['BaseDistiller', 'DetectionDistiller', 'GenericDistiller']

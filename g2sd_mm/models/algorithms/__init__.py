from .base_distiller import BaseDistiller
from .classification_distiller import ClassificationDistiller
from .detection_distiller import DetectionDistiller
from .generic_distiller import GenericDistiller
from .segmentation_distiller import SegmentationDistiller

__all__ = ['BaseDistiller', 'ClassificationDistiller', 'DetectionDistiller',
           'GenericDistiller', 'SegmentationDistiller']

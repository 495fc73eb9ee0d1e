"""Semantic-segmentation label-map loading that names the file on errors."""
from typing import Optional

import numpy as np
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

# What decoding a damaged label map raises: Pillow raises OSError
# (UnidentifiedImageError, "image file is truncated") or SyntaxError
# ("broken PNG file"); cv2 returns None, on which the stock code then fails
# with AttributeError; other backends raise ValueError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, AttributeError)

# How many distinct offending values an error message lists.
_MAX_SHOWN = 8


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@TRANSFORMS.register_module()
class CheckedLoadSegAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` with errors that name the label map.

    Loads exactly as the stock ``LoadAnnotations`` does (including its
    ``reduce_zero_label`` and ``label_map`` handling), and adds:

    - a label map that cannot be decoded raises ``OSError`` (``ValueError``
      where the decoder raised one) whose message starts with
      ``results['seg_map_path']``; the decoder's error is the ``__cause__``;
    - with ``num_classes`` given, the final ``gt_seg_map`` may only hold
      values in ``[0, num_classes)`` or ``ignore_index``; any other value
      raises ``ValueError`` naming the file, the values and the valid range.

    Args:
        reduce_zero_label (bool, optional): as in the stock class.
        backend_args (dict, optional): as in the stock class.
        imdecode_backend (str): as in the stock class. Defaults to 'pillow'.
        num_classes (int, optional): number of classes; ``None`` skips the
            value check. Defaults to None.
        ignore_index (int): the label that marks ignored pixels, always
            allowed. Defaults to 255.
    """

    def __init__(self,
                 reduce_zero_label: Optional[bool] = None,
                 backend_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow',
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255) -> None:
        super().__init__(
            reduce_zero_label=reduce_zero_label,
            backend_args=backend_args,
            imdecode_backend=imdecode_backend)
        if num_classes is not None and not (_is_int(num_classes)
                                            and num_classes >= 1):
            raise ValueError('num_classes must be a positive integer or '
                             f'None, got {num_classes!r}')
        if not _is_int(ignore_index):
            raise ValueError(
                f'ignore_index must be an integer, got {ignore_index!r}')
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = int(ignore_index)

    def _load_seg_map(self, results: dict) -> None:
        """Load the label map the stock way; name the file on errors and
        check its values."""
        path = str(results['seg_map_path'])
        try:
            super()._load_seg_map(results)
        except _DECODE_ERRORS as e:
            if path in str(e):
                raise  # already says which file (e.g. a missing file)
            cls = ValueError if isinstance(e, ValueError) else OSError
            raise cls(f'{path}: cannot decode the label map '
                      f'({type(e).__name__}: {e})') from e
        if self.num_classes is not None:
            self._check_values(results['gt_seg_map'], path)

    def _check_values(self, seg_map: np.ndarray, path: str) -> None:
        """Raise ``ValueError`` if ``seg_map`` holds a value that is neither
        a class index nor ``ignore_index``."""
        if seg_map.size == 0:
            return
        # cheap common case: every value is a class index
        if seg_map.min() >= 0 and seg_map.max() < self.num_classes:
            return
        bad = ((seg_map < 0) | (seg_map >= self.num_classes)) & (
            seg_map != self.ignore_index)
        if not bad.any():
            return
        values = np.unique(seg_map[bad]).tolist()
        shown = ', '.join(map(str, values[:_MAX_SHOWN]))
        if len(values) > _MAX_SHOWN:
            shown += f' and {len(values) - _MAX_SHOWN} more'
        raise ValueError(
            f'{path}: label map holds value(s) {shown} in '
            f'{int(bad.sum())} pixel(s); valid values are the class indices '
            f'0..{self.num_classes - 1} (num_classes={self.num_classes}) '
            f'and the ignore index {self.ignore_index}')

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')

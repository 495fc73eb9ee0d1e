"""Record a submodule's output during a forward pass (forward hook)."""
from typing import Any, List

import torch.nn as nn


class OutputRecorder:
    """Context manager that keeps what ``module`` returns while it is active.

    The distillers use it to read intermediate student outputs (FPN features,
    RPN objectness, decode-head logits) from the student's own ``loss`` call,
    so the student's forward runs once and stays the library's code.

    Example:
        >>> with OutputRecorder(detector.neck, 'student.neck') as rec:
        ...     losses = detector.loss(inputs, data_samples)
        >>> feats = rec.output
    """

    def __init__(self, module: nn.Module, name: str):
        self.module = module
        self.name = name
        self.outputs: List[Any] = []
        self._handle = None

    def _hook(self, module, args, output):
        self.outputs.append(output)

    def __enter__(self) -> 'OutputRecorder':
        self.outputs = []
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
        self._handle = None

    @property
    def output(self) -> Any:
        """The single recorded output; an error if the module ran 0 or 2+ times."""
        if len(self.outputs) != 1:
            raise RuntimeError(f'expected {self.name} to run once during the forward pass, '
                               f'it ran {len(self.outputs)} times')
        return self.outputs[0]

"""Type checks of a distiller's scalar arguments against its signature.

``--cfg-options model.mask_ratio=0,75`` becomes the list ``[0, 75]`` and
``model.target_layer=2.5`` a float; without a check they fail deep inside the
constructor with a ``TypeError`` that names neither the key nor the expected
type. :func:`check_argument_types` compares each keyword argument with the
annotation of the constructor's parameter of that name and raises a
``TypeError`` naming the class, the key, the value and the expected type.

Checked annotations: ``int``, ``float`` (an ``int`` is accepted), ``bool``,
``str``, ``Literal[...]`` (the type of its choices; which choice is the
constructor's own check) and ``Optional``/``Union`` of those. Arguments
annotated otherwise (configs, modules) are left to the constructor.
"""
import inspect
import numbers
import typing
from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ['check_argument_types']

_NAMES = {int: 'an integer', float: 'a number (float)', bool: 'a boolean (True/False)',
          str: 'a string', type(None): 'None'}


def _accepts(kind: type, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    return isinstance(value, kind)


def _scalar_kinds(annotation: Any) -> Optional[Tuple[type, ...]]:
    """The plain types ``annotation`` allows, or ``None`` if it is not checked here."""
    if annotation in _NAMES:
        return (annotation, )
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return tuple(sorted({type(choice) for choice in typing.get_args(annotation)},
                            key=lambda t: t.__name__))
    if origin is typing.Union:
        kinds = [_scalar_kinds(arg) for arg in typing.get_args(annotation)]
        if any(k is None for k in kinds):
            return None
        return tuple(k for group in kinds for k in group)
    return None


def _expected(kinds: Tuple[type, ...]) -> str:
    return ' or '.join(_NAMES.get(k, k.__name__) for k in kinds)


def check_argument_types(owner: str, fn: Callable, kwargs: Dict[str, Any]) -> None:
    """Raise ``TypeError`` if a keyword argument does not match the annotation of
    ``fn``'s parameter of that name (see the module docs); ``owner`` names the class."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    for key, value in kwargs.items():
        param = params.get(key)
        if param is None:
            continue
        kinds = _scalar_kinds(param.annotation)
        if kinds is None or any(_accepts(kind, value) for kind in kinds):
            continue
        raise TypeError(f'{owner}: argument {key!r} must be {_expected(kinds)}, got '
                        f'{type(value).__name__} {value!r}' + _hint(value, kinds))


def _hint(value: Any, kinds: Tuple[type, ...]) -> str:
    if isinstance(value, (list, tuple)) and float in kinds:
        return (' (on the command line a comma makes a list: write a decimal point, '
                'e.g. 0.75)')
    return ''

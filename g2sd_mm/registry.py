"""The ``g2sd_mm`` registry scope, for configs inherited as ``_base_ = ['g2sd_mm::...']``.

mmengine marks every component of a base config read through ``package::``
with ``_scope_=package`` and, when building it, imports ``<package>.registry``
and looks for the registries of that scope. g2sd_mm registers its components
in the libraries whose runners use them (mmpretrain, mmdet, mmseg), and a
g2sd_mm config mixes them with that library's own components, so the
``g2sd_mm`` registries here own nothing: each looks a name up in the scope that
was in effect when the build entered the ``g2sd_mm`` scope, i.e. the
``default_scope`` of the runner (every g2sd_mm config sets it).
"""
from typing import Optional, Type

import mmengine.registry.root as mmengine_root
from mmengine.registry import DefaultScope, Registry

from .package_data import SCOPE


def enclosing_scope() -> Optional[str]:
    """The innermost default scope that is not ``g2sd_mm`` (``None`` if there is none)."""
    # mmengine keeps the default scopes in creation order and restores the
    # outer ones when a ``_scope_`` switch ends; the latest one that is not
    # ours is the scope the build came from.
    for instance in reversed(list(DefaultScope._instance_dict.values())):
        if instance.scope_name != SCOPE:
            return instance.scope_name
    return None


class TaskScopeRegistry(Registry):
    """A ``g2sd_mm``-scoped node of an mmengine root registry that resolves
    names in the enclosing task library's registry (see the module docstring)."""

    def task_registry(self) -> Registry:
        scope = enclosing_scope()
        if scope is None:
            raise KeyError(f'a component of a "{SCOPE}::" config is built in the scope of the '
                           "runner's default_scope, and none is set: set default_scope "
                           "('mmdet', 'mmseg' or 'mmpretrain') in the config, or build it "
                           'under DefaultScope / mmengine.registry.init_default_scope')
        registry = self._get_root_registry()._search_child(scope)
        if registry is None:
            raise KeyError(f'no {self.name!r} registry of scope {scope!r} for a component of '
                           f'a "{SCOPE}::" config (is {scope} installed and imported?)')
        return registry

    def get(self, key: str) -> Optional[Type]:
        return self.task_registry().get(key)


def _add_scope_nodes() -> dict:
    nodes = {}
    for name, registry in vars(mmengine_root).items():
        if isinstance(registry, Registry) and registry.parent is None:
            existing = registry._children.get(SCOPE)
            nodes[name] = existing if existing is not None else TaskScopeRegistry(
                registry.name, parent=registry, scope=SCOPE)
    return nodes


SCOPE_REGISTRIES = _add_scope_nodes()

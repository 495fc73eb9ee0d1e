"""Shared pytest fixtures."""
import pytest

# Small enough to generate in well under a second, large enough for every
# class to appear in each classification split and for a few batches.
SHAPES_TEST_SETTINGS = dict(
    seed=0,
    cls_size=64,
    scene_size=128,
    num_cls_train=40,
    num_cls_val=20,
    num_scene_train=16,
    num_scene_val=8)


@pytest.fixture(scope='session')
def shapes_settings():
    """Keyword arguments of ``generate_shapes`` behind ``shapes_root``."""
    return dict(SHAPES_TEST_SETTINGS)


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory, shapes_settings):
    """Folder with the procedural shapes data (all tasks), written once per
    test session.  Treat it as read-only."""
    from g2sd_mm.demo import generate_shapes
    root = tmp_path_factory.mktemp('shapes')
    generate_shapes(str(root), **shapes_settings)
    return str(root)


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Each test starts and ends with the same mmengine default scope, so a
    test that sets one (``init_default_scope``, a Runner) cannot change which
    registry a later test builds from."""
    import copy

    from mmengine.registry import DefaultScope
    saved = copy.deepcopy(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict = saved

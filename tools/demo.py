"""The G2SD demo on the embedded shapes data (``make demo``): an alias of

    python tools/pipeline.py pipelines/shapes_demo.py [ARGS...]

Every option of ``tools/pipeline.py`` applies (``--force``, ``--dry-run``,
``--work-dir``, ``--cfg-options data_root=...``).
"""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))

import pipeline  # noqa: E402  (tools/pipeline.py)

if __name__ == '__main__':
    sys.exit(pipeline.main([osp.join(ROOT, 'pipelines', 'shapes_demo.py')] + sys.argv[1:]))

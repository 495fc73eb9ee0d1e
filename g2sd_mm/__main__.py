"""``python -m g2sd_mm COMMAND|TOOL [args]``: see :mod:`g2sd_mm.cli`."""
from .cli import main

if __name__ == '__main__':
    main()

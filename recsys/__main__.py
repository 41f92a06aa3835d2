"""``python -m recsys``: see :mod:`recsys.cli`."""

import sys

from .cli import main

sys.exit(main())

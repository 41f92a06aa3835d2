"""``python -m recsys``: see :mod:`recsys.cli`.

The process ends with ``os._exit`` once the command is done and its output flushed: Arrow's
native thread pools (pandas reads and writes Parquet through pyarrow) occasionally abort the
interpreter's own teardown with "terminate called without an active exception" (apache/arrow
#34314), which would turn a finished command into exit code -6.
"""

import logging
import os
import sys

from recsys.cli import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code if isinstance(code, int) else 0)

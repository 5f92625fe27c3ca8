"""``python -m sagepack.serving``: the same as ``serve``."""

import sys

from sagepack.serving.cli import main

sys.exit(main())

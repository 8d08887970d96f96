"""``python -m probsnn.cli``: the same as the ``probsnn`` console script."""
import sys

from . import main

sys.exit(main())

"""``python -m infoprop.cli``: the same as the ``infoprop`` console script."""

import sys

from . import main

sys.exit(main())

"""``python -m dyntemp``: the ``dyntemp`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m dyntemp.cli``."""

import sys

from . import main

sys.exit(main())

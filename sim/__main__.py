"""``python -m sim``: the ``qusayr`` command."""

import sys

from sim.cli import main

sys.exit(main())

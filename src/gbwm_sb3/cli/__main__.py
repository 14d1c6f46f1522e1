"""``python -m gbwm_sb3.cli``: the ``gbwm`` command line."""

import sys

from gbwm_sb3.cli.main import main

sys.exit(main())

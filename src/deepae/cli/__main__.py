"""``python -m deepae.cli``: the ``deepae`` command."""

import sys

from . import main

sys.exit(main())

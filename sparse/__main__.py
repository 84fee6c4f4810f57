"""``python -m sparse``: the command line of a trained model (see :mod:`sparse.cli`)."""

import sys

from .cli import main

sys.exit(main())

"""``python -m scarview``: the same as the ``scarview`` command."""

import sys

from scarview.cli import main

sys.exit(main())

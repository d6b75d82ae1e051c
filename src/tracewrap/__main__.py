"""``python -m tracewrap``: the ``tracewrap`` command where its console script is not installed
(``pip install --target``, a zip app)."""

import sys

from tracewrap.cli import main

sys.exit(main())

"""``python -m cli`` = the ``gridrisk`` command."""

import sys

from cli.main import main

sys.exit(main())

"""`python -m nascli` is the same as `nas`."""

import sys

from nascli.cli import main

sys.exit(main())

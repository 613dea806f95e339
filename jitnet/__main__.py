"""`python -m jitnet` is the `jitnet` command."""

import sys

from .cli import main

sys.exit(main())

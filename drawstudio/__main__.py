"""`python -m drawstudio ...` is the `drawstudio` command (and what torchrun runs)."""

import sys

from drawstudio.cli.main import main

sys.exit(main())

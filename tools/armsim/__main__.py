"""``python -m armsim``: the stand-in emulator, or a subcommand (serve, list, wrapper); see cli.py."""

import sys

from armsim.cli import main

sys.exit(main(sys.argv[1:]))

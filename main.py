"""DRAW Studio. `python main.py --help` lists its options: --run, --dataset, --data-dir, --preset,
--autostart, --follow."""

import sys

from drawstudio.studio.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

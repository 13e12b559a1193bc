"""DRAW Studio: `python main.py [--run DIR] [--dataset NAME] [--data-dir DIR] [--autostart] [--follow]`."""

import sys

from drawstudio.studio.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

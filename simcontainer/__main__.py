"""``python -m simcontainer``: the same as the ``simcontainer`` command."""

import sys

from simcontainer.faces.cli import main

if __name__ == "__main__":
    sys.exit(main())

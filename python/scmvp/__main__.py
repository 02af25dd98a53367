"""``python -m scmvp`` is the ``scmvp`` command (and what ``torchrun -m scmvp`` starts)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

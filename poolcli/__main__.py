"""``python -m poolcli``: the same command line as ``poolcli``."""

from .cli import main

if __name__ == "__main__":
    main()

"""``python -m poolcli`` and the ``poolcli`` console script.

The entry point imports the command line inside a guard, so a Ctrl-C while
Python is still importing it ends quietly (exit status 130), not with a
traceback.
"""

import sys


def main() -> None:
    try:
        from .cli import main as run

        run()
    except KeyboardInterrupt:  # before the command line took over its own interrupts
        sys.stderr.write("poolcli: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()

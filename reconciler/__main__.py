"""``python -m reconciler`` runs the same command line as ``headless-reconciler``."""

from reconciler.cli import main

if __name__ == "__main__":
    main()

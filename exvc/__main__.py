"""``python -m exvc``: same as the ``exvc`` console script."""

from exvc.cli.main import main

if __name__ == "__main__":
    main()

"""``python -m exvc.bench`` is ``exvc-bench``."""

from exvc.bench.cli import main

main()

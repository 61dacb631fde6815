"""Thin entry point: ``python scripts/bench_review.py`` = ``python -m review.bench`` (see there)."""

from review.bench import main

if __name__ == "__main__":
    raise SystemExit(main())

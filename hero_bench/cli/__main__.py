"""`python -m hero_bench.cli`: the same entry point as the `hero-bench` script."""

from hero_bench.cli import main

main()

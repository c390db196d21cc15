"""Benchmarks of the platform (not tests: no timing asserts). See bench/README.md."""

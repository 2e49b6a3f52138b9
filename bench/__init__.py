"""Benchmarks (run each script directly), and the synthetic crash reports they share with the tests."""

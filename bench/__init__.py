"""Benchmarks: the query engine and each backend against raw drivers and peers."""

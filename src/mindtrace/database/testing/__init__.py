"""Pytest fixtures for users' own test suites: throwaway servers and backends for every store."""

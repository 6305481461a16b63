"""Suite-wide fixtures: the package's own pytest plugin (throwaway servers, ready backends)."""

pytest_plugins = ["mindtrace.database.testing.plugin"]

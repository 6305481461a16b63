"""Suite-wide fixtures: the package's own pytest plugin (throwaway servers, ready backends), and
pytest's ``pytester`` for tests of that plugin."""

pytest_plugins = ["mindtrace.database.testing.plugin", "pytester"]

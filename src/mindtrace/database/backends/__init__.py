"""Backends: MongoDB (Beanie), plain Redis, and the embedded SQLite store. Each module imports its
driver on import, so ``import mindtrace.database`` never needs the optional extras."""

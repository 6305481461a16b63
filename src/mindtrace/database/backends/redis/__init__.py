"""Internals of the Redis backend: key layout, index encoding, Lua scripts, query planning and the
sans-I/O operations shared by the sync (``redis.Redis``) and async (``redis.asyncio``) shells."""

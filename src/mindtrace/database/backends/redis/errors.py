"""Translation of redis-py errors into the package's exceptions, for one collection.

One context manager, ``RedisErrors.translate()``, wraps every driver call of the shells (sync
and async alike). Connection and timeout errors become ``ConnectionFailedError`` naming the URL
with its password hidden; any other server error becomes ``DatabaseError``; the original is
always chained. Duplicate keys never reach here: the Lua scripts report them as replies, which
``operations.Collection`` turns into ``DuplicateInsertError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mindtrace.database.core.exceptions import ConnectionFailedError, DatabaseError
from mindtrace.database.core.urls import redact_url

__all__ = ["RedisErrors"]


class RedisErrors:
    """Error translation for one collection on one Redis URL."""

    def __init__(self, url: str, collection: str) -> None:
        self.url = redact_url(url)
        self.collection = collection

    @contextmanager
    def translate(self) -> Iterator[None]:
        """Turn a ``RedisError`` raised inside the block into the package's error (chained)."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as e:
            raise ConnectionFailedError(
                f"cannot reach Redis at {self.url} (collection {self.collection!r}): {e}; "
                "check that the server is running and the URL is right — the backend reconnects "
                "on the next call",
                url=self.url,
            ) from e
        except RedisError as e:
            raise DatabaseError(
                f"Redis at {self.url} refused a command for collection {self.collection!r}: {e}"
            ) from e

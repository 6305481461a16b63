"""``gc_paused`` restores the collector's state however the block ends, and a failing batch
insert leaves the collector running."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError

from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.core.gc_pause import gc_paused


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


@pytest.mark.usefixtures("collector_enabled")
def test_the_collector_is_paused_inside_and_back_after() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_program_that_disabled_the_collector_keeps_it_disabled() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_batch_that_fails_validation_leaves_the_collector_running() -> None:
    class Item(BaseModel):
        id: str | None = None
        n: int

    class Other(BaseModel):
        n: str

    with LocalODMBackend(Item, ":memory:") as items:
        with pytest.raises(ValidationError):
            items.insert_many_sync([Item(n=1), Other(n="not a number")])  # type: ignore[list-item]
        assert gc.isenabled()
        assert items.count_sync() == 0

"""Every coroutine of the public API has a blocking ``_sync`` twin with the same signature.

For the base class and every backend class:

* each public coroutine (or async generator, like ``iterate``) ``x`` has ``x_sync`` with the same
  parameters — names, kinds, defaults, annotations — and the same return annotation
  (``AsyncIterator[T]`` for the generator, ``Iterator[T]`` for its twin);
* each public method is a coroutine, the twin of one, or listed in ``NO_TWIN`` with the reason it
  has none (and then it really has none);
* each primitive ``_x`` the base class declares abstract has an abstract ``_x_sync``, and in
  every backend the pair takes the same parameters as the base declares (an implementation may
  add keyword-only parameters with defaults, for per-call options).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mindtrace.database.backends.local_odm_backend import LocalODMBackend
from mindtrace.database.backends.mongo_odm_backend import MongoMindtraceODMBackend
from mindtrace.database.backends.redis_odm_backend import RedisODMBackend
from mindtrace.database.core.backend import MindtraceODMBackend

CLASSES: list[type[Any]] = [MindtraceODMBackend, LocalODMBackend, RedisODMBackend, MongoMindtraceODMBackend]

NO_TWIN: dict[type[Any], dict[str, str]] = {
    MindtraceODMBackend: {
        "get_raw_model": "returns the model class; no I/O, so nothing to await",
        "is_async": "tells which API the backend prefers; no I/O",
    },
    LocalODMBackend: {
        "explain": "SQLite's query plan for a filter, a diagnostic that only reads the schema",
    },
    MongoMindtraceODMBackend: {
        "async_client": "the PyMongo AsyncMongoClient, for the async API",
        "sync_client": "the PyMongo MongoClient, its blocking counterpart (another client type, "
        "so not a twin with one signature)",
    },
}
"""Public methods that must have no ``_sync`` twin, per class (inherited by subclasses)."""

SYNC = "_sync"


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _public_methods(cls: type[Any]) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in dir(cls):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        if isinstance(static, property):
            continue
        value = getattr(cls, name)
        if callable(value):
            yield name, value


def _no_twin(cls: type[Any]) -> dict[str, str]:
    allowed: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        allowed.update(NO_TWIN.get(base, {}))
    return allowed


def _returns(function: Callable[..., Any]) -> Any:
    """The return annotation, an async iterator's read as the blocking iterator it mirrors."""
    annotation = inspect.signature(function).return_annotation
    if isinstance(annotation, str) and annotation.startswith("AsyncIterator["):
        return annotation.removeprefix("Async")
    return annotation


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())


def assert_twins(cls: type[Any], name: str) -> None:
    coroutine = getattr(cls, name)
    twin = getattr(cls, name + SYNC, None)
    assert twin is not None, f"{cls.__name__}.{name} is a coroutine without a {name}{SYNC} twin"
    assert not _is_async(twin), f"{cls.__name__}.{name}{SYNC} must block, not be a coroutine"
    assert _parameters(twin) == _parameters(coroutine), (
        f"{cls.__name__}.{name}{SYNC}{inspect.signature(twin)} differs from "
        f"{cls.__name__}.{name}{inspect.signature(coroutine)}"
    )
    assert _returns(twin) == _returns(coroutine), (
        f"{cls.__name__}.{name}{SYNC} returns {_returns(twin)!r}, {name} returns {_returns(coroutine)!r}"
    )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_public_coroutine_has_a_twin_with_its_signature(cls: type[Any]) -> None:
    coroutines = [name for name, method in _public_methods(cls) if _is_async(method)]
    assert {"find", "iterate", "insert", "update_many"} <= set(coroutines)  # the scan finds them
    allowed = _no_twin(cls)
    for name in coroutines:
        if name not in allowed:
            assert_twins(cls, name)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_public_method_is_a_coroutine_a_twin_or_listed(cls: type[Any]) -> None:
    methods = dict(_public_methods(cls))
    allowed = _no_twin(cls)
    for name, method in methods.items():
        if name in allowed:
            continue
        if _is_async(method):
            continue
        assert name.endswith(SYNC) and _is_async(methods.get(name.removesuffix(SYNC))), (
            f"{cls.__name__}.{name} is a blocking method with no coroutine: add its coroutine (and "
            "keep the signatures equal), or list it in NO_TWIN with the reason it has none"
        )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_methods_listed_without_twin_exist_and_have_none(cls: type[Any]) -> None:
    for name in NO_TWIN.get(cls, {}):
        assert callable(getattr(cls, name, None)), f"NO_TWIN names {cls.__name__}.{name}: no such method"
        assert not hasattr(cls, name + SYNC), f"{cls.__name__}.{name} has a twin: test it, unlist it"


def _primitives() -> list[str]:
    abstract = MindtraceODMBackend.__abstractmethods__
    return sorted(name for name in abstract if name.startswith("_") and not name.endswith(SYNC))


def test_the_base_declares_primitives_in_pairs() -> None:
    names = _primitives()
    assert {"_find_docs", "_insert_docs", "_update_many", "_iterate_docs"} <= set(names)
    abstract = MindtraceODMBackend.__abstractmethods__
    for name in names:
        assert name + SYNC in abstract, f"primitive {name} has no abstract {name}{SYNC}"
        assert_same_parameters(MindtraceODMBackend, name, MindtraceODMBackend, name + SYNC)


def assert_same_parameters(cls: type[Any], name: str, base: type[Any], base_name: str) -> None:
    """``cls.name`` takes ``base.base_name``'s parameters (names, kinds, defaults, annotations),
    plus optional keyword-only ones."""
    own = _parameters(getattr(cls, name))
    declared = _parameters(getattr(base, base_name))
    extra = own[len(declared) :]
    assert own[: len(declared)] == declared and all(
        p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty for p in extra
    ), (
        f"{cls.__name__}.{name}{inspect.signature(getattr(cls, name))} does not take the parameters of "
        f"{base.__name__}.{base_name}{inspect.signature(getattr(base, base_name))}"
    )


@pytest.mark.parametrize("cls", CLASSES[1:], ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("name", _primitives())
def test_every_primitive_and_its_twin_take_the_declared_parameters(cls: type[Any], name: str) -> None:
    primitive, twin = getattr(cls, name), getattr(cls, name + SYNC)
    assert not getattr(primitive, "__isabstractmethod__", False), f"{cls.__name__} leaves {name} abstract"
    assert _is_async(primitive), f"{cls.__name__}.{name} must be a coroutine (or async generator)"
    assert not _is_async(twin), f"{cls.__name__}.{name}{SYNC} must block"
    assert_same_parameters(cls, name, MindtraceODMBackend, name)
    assert_same_parameters(cls, name + SYNC, MindtraceODMBackend, name)
    assert _parameters(primitive) == _parameters(twin), (
        f"{cls.__name__}.{name}{inspect.signature(primitive)} and its twin "
        f"{name}{SYNC}{inspect.signature(twin)} differ"
    )

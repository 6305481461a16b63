"""The Local fixtures users put in their own suites: indirect parametrization, isolation, cleanup."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel

from mindtrace.database import LocalODMBackend, MindtraceModel

if TYPE_CHECKING:
    from mindtrace.database.testing.local import LocalBackendFactory

# The fixtures come from the package's pytest plugin (tests/conftest.py), which re-exports those
# of mindtrace.database.testing.local; the last test checks that module on its own.


class Pet(MindtraceModel):
    name: str
    legs: int = 4

    class Settings:
        name = "pets"


class Owner(BaseModel):
    name: str
    pet: str


@pytest.mark.parametrize("local_backend", [Pet], indirect=True)
async def test_local_backend_is_ready_for_async_and_sync(local_backend: LocalODMBackend[Pet]) -> None:
    stored = await local_backend.insert(Pet(name="Rex"))
    assert local_backend.get_sync(stored.id or "") == stored
    assert local_backend.model_cls is Pet
    assert await local_backend.count() == 1


@pytest.mark.parametrize("local_backend", [Pet], indirect=True)
def test_each_test_gets_an_empty_database(
    local_backend: LocalODMBackend[Pet], local_database_path: Path
) -> None:
    assert local_backend.count_sync() == 0
    local_backend.insert_sync(Pet(name="Tom", legs=3))
    assert local_database_path.exists()


def test_factory_backends_share_one_database(local_backend_factory: LocalBackendFactory) -> None:
    pets = local_backend_factory(Pet)
    owners = local_backend_factory(Owner)
    pets.insert_sync(Pet(name="Rex"))
    owners.insert_sync(Owner(name="Ann", pet="Rex"))
    joined = owners.aggregate_sync(
        [
            {"$lookup": {"from": "pets", "localField": "pet", "foreignField": "name", "as": "pets"}},
            {"$project": {"_id": 0, "name": 1, "legs": "$pets.legs"}},
        ]
    )
    assert joined == [{"name": "Ann", "legs": [4]}]


def test_missing_parametrization_fails_with_a_hint(tmp_path: Path) -> None:
    test_file = tmp_path / "test_user_suite.py"
    test_file.write_text(
        textwrap.dedent(
            """
            pytest_plugins = ["mindtrace.database.testing.local"]

            def test_forgot_parametrize(local_backend):
                pass
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'parametrize("local_backend", [YourModel], indirect=True)' in result.stdout

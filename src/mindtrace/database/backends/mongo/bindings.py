"""Which database each Beanie document class is bound to, so that backends never rebind each other.

Beanie keeps the database of a document class in the class itself (``init_beanie``), so one class
can only be bound to one database at a time. The first open backend to initialise a class claims
it for its (URL, database); other backends on the same location share the claim. A backend on
another location does not take the class over: its own operations never go through the class
binding (they use their own collection), so both keep working, and Beanie calls made directly on
the class (``MyDoc.find(...)``, ``doc.save()``) keep going to the first backend's database.
The claim ends when the last backend holding it is closed or garbage collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["SHARED_BINDINGS", "BeanieBindings", "Location"]

Location = tuple[str, str]
"""(URL, database name)."""


@dataclass
class _Claim:
    location: Location
    holders: weakref.WeakSet[object] = field(default_factory=weakref.WeakSet)


class BeanieBindings:
    """Claims on Beanie document classes, by location; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: weakref.WeakKeyDictionary[type, _Claim] = weakref.WeakKeyDictionary()

    def claim(self, classes: Iterable[type], location: Location, holder: object) -> Location | None:
        """Claim every class in ``classes`` for ``location`` on behalf of ``holder``.

        All or nothing: returns None when the claim holds (the classes may be bound to
        ``location``), or the location of a live conflicting claim (nothing is claimed then).
        """
        classes = list(classes)
        with self._lock:
            for cls in classes:
                current = self._claims.get(cls)
                if current is not None and len(current.holders) and current.location != location:
                    return current.location
            for cls in classes:
                current = self._claims.get(cls)
                if current is None or not len(current.holders):
                    current = _Claim(location)
                    self._claims[cls] = current
                current.holders.add(holder)
        return None

    def owner_location(self, cls: type) -> Location | None:
        """The location ``cls`` is claimed for, or None when no open backend holds it."""
        with self._lock:
            current = self._claims.get(cls)
            return current.location if current is not None and len(current.holders) else None

    def release(self, holder: object) -> None:
        """Drop every claim ``holder`` takes part in."""
        with self._lock:
            for claim in self._claims.values():
                claim.holders.discard(holder)


SHARED_BINDINGS = BeanieBindings()
"""Beanie's class binding is process-wide, so the record of who holds it is too."""

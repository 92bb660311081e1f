"""One open registry, used for tasks, model providers and strategies.

A registry maps a name to a component. Built-in components are listed by reference
(``"cothub.tasks.gsm8k:GSM8K"``) and imported on first use, so that listing or importing a registry
never imports an SDK, torch or a task's data code. Anything can add to it with ``register``, and
other packages add theirs through an entry-point group, one per registry:

=====================  =========================================================================
``cothub.tasks``       ``name = "pkg.module:MyTask"`` (a ``Task`` subclass, instance or factory)
``cothub.providers``   ``name = "pkg.module:factory"`` (``(model, style, base_url) -> Backend``,
                       or a ``cothub.models.Provider`` record)
``cothub.strategies``  ``name = "pkg.module:MyStrategy"`` (a strategy class, ideally a dataclass)
=====================  =========================================================================

Entry points are read (with :mod:`importlib.metadata`) only when a name is not registered or when
everything is listed, and an entry point is imported only when its name is used: installed
plugins cost nothing until then. A registered name always wins over an entry point of the same
name, so a plugin cannot silently replace a built-in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from cothub.errors import CothubError

T = TypeVar("T")


def load_reference(ref: str) -> Any:
    """``"pkg.module:attr.sub"`` -> the object it names."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registry(Mapping[str, T], Generic[T]):
    """Name -> component, open to ``register`` and to the entry-point group ``group``.

    ``coerce`` turns what was registered or loaded (a class, an instance, a factory) into the
    component, and raises :class:`CothubError` with the fix when it cannot.
    """

    def __init__(self, kind: str, group: str, coerce: Callable[[str, Any], T]) -> None:
        self.kind = kind
        """What the components are, for messages (``task``, ``model provider``, ``strategy``)."""
        self.group = group
        """The entry-point group other packages register under."""
        self._coerce = coerce
        self._refs: dict[str, str] = {}
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}
        self._order: dict[str, None] = {}
        """Registered names in registration order (an ordered set)."""

    def register(self, name: str, component: Any, origin: str = "") -> None:
        """Add ``component`` under ``name``; a ``"module:attr"`` string is imported on first use.

        Registering a name again replaces it (a notebook re-running its cell)."""
        self._items.pop(name, None)
        self._refs.pop(name, None)
        if isinstance(component, str):
            self._refs[name] = component
        else:
            self._items[name] = self._coerce(name, component)
        self._origin[name] = origin or "cothub"
        self._order[name] = None

    def origin(self, name: str) -> str:
        """Where a component came from: ``cothub``, or the distribution of its entry point."""
        if name not in self._origin:
            self.get(name)
        return self._origin.get(name, "")

    def get(self, name: str, default: T | None = None) -> T | None:  # type: ignore[override]
        """The component named ``name`` (imported, or loaded from its entry point, on first
        use), else ``default``."""
        if name in self._items:
            return self._items[name]
        ref = self._refs.get(name)
        if ref is not None:
            self._items[name] = self._coerce(name, load_reference(ref))
            del self._refs[name]
            return self._items[name]
        ep = self._entry_points().get(name)
        if ep is None:
            return default
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        try:
            loaded = ep.load()
        except Exception as e:
            raise CothubError(
                f"{self.kind} {name!r} from {dist} (entry point {ep.value} in group {self.group}) "
                f"failed to load ({type(e).__name__}: {e}); fix or uninstall {dist}"
            ) from e
        self._items[name] = self._coerce(name, loaded)
        self._origin[name] = dist
        return self._items[name]

    def __getitem__(self, name: str) -> T:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._order or name in self._items or name in self._entry_points()
        )

    def names(self) -> list[str]:
        """Every name: registered ones in registration order, then entry points by name."""
        own = list(self._order)
        return own + sorted(n for n in self._entry_points() if n not in self._order)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def unknown(self, name: str, hint: str) -> CothubError:
        """The one-line error for a name nothing registered."""
        return CothubError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self)}{hint}")

    def _entry_points(self) -> dict[str, Any]:
        """This group's entry points by name, minus names registered here (those win)."""
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.group) if ep.name not in self._order}

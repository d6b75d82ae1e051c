"""Post-import hooks for the start-up stage: run code right after a module's own code, once.

What ``wrapt.register_post_import_hook`` does, in a small ``sys.meta_path`` finder of the standard
library only: start-up runs in every process with ``TRACEWRAP_ENABLED`` set, and importing wrapt
there would cost ~70 ms (wrapt 2.x imports asyncio and importlib.metadata). The finder finds
nothing itself: it asks the finders after it and wraps the loader of a watched module. A
``find_spec`` / ``pkgutil`` probe (libraries checking optional dependencies) gets a spec and never
loads it, so the hooks stay registered until the module really executes.
"""

import sys

TYPE_CHECKING = False  # typing is not loaded yet at start-up: annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    Hook = Callable[[ModuleType], None]


def when_imported(name: str, hook: "Hook") -> None:
    """Call ``hook(module)`` once ``name`` has been imported: now if it already is, else right after.

    A hook already waiting for ``name`` is not added again: installing twice (or again after an
    uninstall) before the module is imported still calls it once."""
    module = sys.modules.get(name)
    if module is not None:
        _call(hook, module)
        return
    waiting = _finder().hooks.setdefault(name, [])
    if hook not in waiting:
        waiting.append(hook)


def _call(hook: "Hook", module: "ModuleType") -> None:
    try:
        hook(module)
    except Exception as exc:  # a failing hook must never fail the application's import
        from tracewrap.logs import say

        say(f"auto-instrumentation hook for {module.__name__} failed ({type(exc).__name__}: {exc})")


class _PostImportFinder:
    """A ``sys.meta_path`` entry that finds nothing itself: it asks the finders after it and wraps the
    loader of a watched module, so the hooks run once the module's code has executed."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Hook]] = {}
        self._searching: set[str] = set()

    def find_spec(self, fullname: str, path: "Any" = None, target: "Any" = None) -> "Any":
        if fullname not in self.hooks or fullname in self._searching:
            return None
        self._searching.add(fullname)  # a finder that calls importlib.util.find_spec must not loop here
        try:
            spec = None
            for finder in list(sys.meta_path):
                find_spec = getattr(finder, "find_spec", None)
                if finder is self or find_spec is None:
                    continue
                spec = find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        # the hooks stay registered until the module really executes: a find_spec / pkgutil probe
        # (libraries checking optional dependencies) gets a spec and never loads it
        spec.loader = _NotifyingLoader(spec.loader, self, fullname)
        return spec


class _NotifyingLoader:
    def __init__(self, loader: "Any", finder: _PostImportFinder, name: str) -> None:
        self.loader = loader
        self.finder = finder
        self.name = name

    def create_module(self, spec: "Any") -> "Any":
        return self.loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        # the module's own code and everything after it see the real loader, never this wrapper
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        loaded = sys.modules.get(module.__name__, module)
        for hook in self.finder.hooks.pop(self.name, ()):
            _call(hook, loaded)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self.loader, name)


_the_finder: _PostImportFinder | None = None


def _finder() -> _PostImportFinder:
    global _the_finder
    if _the_finder is None:
        _the_finder = _PostImportFinder()
        sys.meta_path.insert(0, _the_finder)
    return _the_finder

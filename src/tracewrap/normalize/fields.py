"""Reading one field of a response object, and the one module that knows pydantic's internals.

Responses are the SDK's pydantic v2 models in the normal case; compatible servers, raw responses
and other wrappers hand dicts, ``None`` or arbitrary objects. :func:`field` reads any of them and
never raises; :func:`fields_of` gives a ``.get(name)`` over all of an object's data fields at once.

Why pydantic's storage is read directly: a name a pydantic model lacks is the costly case of
``getattr`` (pydantic's ``__getattr__`` formats an ``AttributeError``, ~3 µs), and usage objects,
chunks and choices are probed for the other API shape's names on every call. A pydantic v2 model
keeps its set fields in the instance ``__dict__`` and, with ``extra="allow"``, the rest in
``__pydantic_extra__``, which is where its ``__getattr__`` looks next; so those two are read.

The fallback: :func:`pydantic_field_names` takes a class for such a model only when pydantic v2
is importable and the class's ``__getattr__`` is ``pydantic.BaseModel``'s own; a pydantic v1
model, a class that overrides ``__getattr__`` or a pydantic that no longer declares
``__pydantic_fields__`` is read with plain ``getattr``, which gives the same values, slower.
``tests/core/test_fields.py`` checks both roads against ``getattr`` on the pydantic installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MAPPING = "mapping"
_OBJECT = "object"
_MISSING = object()
# per class: _MAPPING, _OBJECT, or for a pydantic v2 model the names its class defines
_kinds: dict[type, Any] = {}
_KINDS_MAX = 4096  # classes made at run time (generic models) must not grow it without bound


def pydantic_field_names(cls: type) -> frozenset[str] | None:
    """For a pydantic v2 model class whose storage may be read: the names its class defines
    (methods, properties, class attributes, private attributes), which a missing instance field is
    read through ``getattr`` for; None for any other class."""
    if not isinstance(getattr(cls, "__pydantic_fields__", None), dict):
        return None
    try:
        from pydantic import BaseModel
    except ImportError:
        return None
    own = getattr(BaseModel, "__getattr__", None)  # pydantic v2's (v1's BaseModel has none)
    if own is None or not issubclass(cls, BaseModel) or getattr(cls, "__getattr__", None) is not own:
        return None
    return frozenset(dir(cls)) | frozenset(getattr(cls, "__private_attributes__", None) or ())


def _kind_of(cls: type) -> Any:
    try:
        if issubclass(cls, Mapping):  # an ABC check costs ~0.3 µs: paid once per class
            kind: Any = _MAPPING
        else:
            kind = pydantic_field_names(cls) or _OBJECT
    except Exception:
        kind = _OBJECT
    if len(_kinds) >= _KINDS_MAX:
        _kinds.clear()
    _kinds[cls] = kind
    return kind


def field(obj: Any, name: str) -> Any:
    """``obj.name`` for models, ``obj[name]`` for mappings, else ``None``; never raises.

    A pydantic v2 model: a set field from the instance ``__dict__``; a name neither there nor
    defined on the class can only be an extra, read from ``__pydantic_extra__``; a name the class
    defines (a property, an unset default) through ``getattr``.
    """
    if obj is None:
        return None
    cls = type(obj)
    if cls is dict:
        return obj.get(name)
    kind = _kinds.get(cls)
    if kind is None:
        kind = _kind_of(cls)
    try:
        if kind is _MAPPING:
            return obj.get(name)
        if kind is not _OBJECT:
            value = obj.__dict__.get(name, _MISSING)
            if value is not _MISSING:
                return value
            if name not in kind:
                extra = obj.__pydantic_extra__
                return extra.get(name) if extra else None
        return getattr(obj, name, None)
    except Exception:
        return None


class _FieldReader:
    """``.get(name)`` through :func:`field`, for objects :func:`fields_of` cannot read as a dict."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, name: str) -> Any:
        return field(self._obj, name)


def fields_of(obj: Any) -> Any:
    """Something whose ``.get(name)`` reads a *data* field exactly as ``field(obj, name)`` does.

    A per-call reader probes many names, some of them absent: it takes this once per object and
    pays a dict lookup per name. A dict is itself; a pydantic v2 model its ``__dict__`` merged with
    its extras if it has any (the declared fields winning, as in :func:`field`); anything else a
    reader that calls :func:`field`. Read only, never modify what it returns. Not for names of
    methods or properties, which a model's ``__dict__`` does not hold.
    """
    cls = type(obj)
    if cls is dict:
        return obj
    kind = _kinds.get(cls)
    if kind is None:
        kind = _kind_of(cls)
    if kind is not _MAPPING and kind is not _OBJECT:
        try:
            extra = obj.__pydantic_extra__
            if not extra:
                return obj.__dict__
            # fields newer than the SDK (a Response's "store" on some versions) are extras
            return {**extra, **obj.__dict__}
        except Exception:
            pass
    return _FieldReader(obj)

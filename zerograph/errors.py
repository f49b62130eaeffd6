"""Every error zerograph raises, in one place.

```
ZerographError(Exception)
├── ConfigError(ZerographError, ValueError)            bad config, filter, limit, argument
├── UnsupportedOperation(ZerographError, NotImplementedError)
├── SaverClosedError(ZerographError, RuntimeError)     the saver was closed
└── StorageError(ZerographError)                       raised `from` the backend error
    ├── StorageTimeout(StorageError, TimeoutError)     locked past the busy timeout
    ├── SchemaError(StorageError)                      a store this version cannot use
    └── CorruptDataError(StorageError)                 a stored row that cannot be decoded
        └── RefusedDataError(CorruptDataError)         a stored row the serializer refuses
ConfigError
└── DisallowedTypeError(ConfigError)                   a value whose type would be refused on load
```

The second base of each class keeps existing `except ValueError:` (etc.) callers
working. "Not found" is not an error: `get_tuple` returns `None`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptDataError",
    "DisallowedTypeError",
    "RefusedDataError",
    "SaverClosedError",
    "SchemaError",
    "StorageError",
    "StorageTimeout",
    "UnsupportedOperation",
    "ZerographError",
]


class ZerographError(Exception):
    """Base class of every zerograph error."""


class ConfigError(ZerographError, ValueError):
    """An argument the caller passed cannot be used (the message says how to fix it)."""


class UnsupportedOperation(ZerographError, NotImplementedError):
    """The saver does not implement this operation."""


class SaverClosedError(ZerographError, RuntimeError):
    """The saver was closed; create a new one."""


class StorageError(ZerographError):
    """The storage backend failed; `__cause__` holds the backend's own error."""


class StorageTimeout(StorageError, TimeoutError):
    """The store stayed locked by another writer for longer than the busy timeout."""


class SchemaError(StorageError):
    """The store's schema is not one this version of zerograph can use."""


class CorruptDataError(StorageError):
    """A stored row could not be decoded."""


class RefusedDataError(CorruptDataError):
    """A stored value was refused: it names a type that is not allowed, is a pickle, is
    not encrypted though encryption is on, or failed authentication.

    Nothing the value names was imported or called. A `CorruptDataError`, so the
    savers' handling of undecodable rows applies.
    """


class DisallowedTypeError(ConfigError):
    """A value to be stored holds a type the serializer would refuse to load back.

    Raised before anything is written. Allow the type (the message says how) or store
    plain data instead.
    """

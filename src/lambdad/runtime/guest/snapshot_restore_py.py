"""SnapStart runtime hooks for Python: the `snapshot_restore_py` module Lambda's Python runtime ships.

Functions import it as on AWS (`from snapshot_restore_py import register_before_snapshot,
register_after_restore`); it is loaded in the zygote, so every environment has it whatever its path.
Both registrations work as decorators or as calls with arguments for the hook:

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reconnect, "db", retries=3)

Hooks run only in SnapStart versions (guest/template.py): the before-snapshot hooks once in the
template, after init and in the reverse order of registration; the after-restore hooks in each new
environment forked from it, in the order of registration, before its first invocation. Elsewhere
registering is harmless and nothing runs them, as on Lambda.
"""

_before_snapshot: list = []
_after_restore: list = []


def register_before_snapshot(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` before the snapshot is taken; returns func (usable as a decorator)."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` in every environment restored from the snapshot; returns func."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot():
    """The registered before-snapshot hooks as (func, args, kwargs), in the order of registration."""
    return _before_snapshot


def get_after_restore():
    """The registered after-restore hooks as (func, args, kwargs), in the order of registration."""
    return _after_restore

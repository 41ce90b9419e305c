"""The store's own error: the storage beneath it failed (a foreign error, translated where it enters)."""


class StoreError(Exception):
    """The database refused or failed an operation (disk full, locked, corrupt). The API edge answers
    it as a ServiceException (500); the cause is kept (`raise StoreError(...) from exc`)."""

"""Persistence: one `Store` (SQLite in WAL mode by default) plus content-addressed blobs on disk."""

from lambdad.store.blobs import BlobStore
from lambdad.store.errors import StoreError
from lambdad.store.sqlite import Store

__all__ = ["BlobStore", "Store", "StoreError"]

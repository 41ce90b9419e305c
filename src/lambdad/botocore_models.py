"""botocore's service models (the ones lambdad serves from), loaded through one botocore session per
process.

Each `botocore.session.get_session()` is a new session: it registers botocore's ~1,500 built-in
handlers and lists every service directory again (~0.07 s of CPU each), and its loader parses the
model files again. With a dozen codecs each making its own, that was most of a server's start-up;
one session shares the parsing too (botocore's loader caches what it has loaded).
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session
from botocore.model import ServiceModel


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


def service_model(name: str) -> ServiceModel:
    """The model of a service by its botocore name ("lambda", "sqs", "s3", "apigatewayv2"...)."""
    return session().get_service_model(name)


def data_loader() -> botocore.loaders.Loader:
    """The session's loader, for a model's raw JSON (to derive another model from it) or the list of services."""
    loader: botocore.loaders.Loader = session().get_component("data_loader")
    return loader

"""One error root: every exception class of ours derives from LambdadError, except the store's (it
imports nothing of ours) and the guest's (it runs inside function interpreters)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import lambdad
from lambdad.errors import LambdadError


def our_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(lambdad.__path__, "lambdad."):
        if info.name.startswith("lambdad.runtime.guest") or info.name == "lambdad.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_exception_of_ours_is_under_the_root() -> None:
    classes = our_exception_classes()
    assert len(classes) > 40  # the walk found the API errors and the strays alike
    outside = sorted(name for name, cls in classes.items()
                     if not issubclass(cls, LambdadError) and not name.startswith("lambdad.store."))
    assert outside == []
    store = sorted(name for name in classes if name.startswith("lambdad.store."))
    assert store == ["lambdad.store.datadir.DataDirError", "lambdad.store.errors.StoreError"]


def test_value_errors_stay_value_errors() -> None:
    from lambdad.frontdoors.proxy import BadProxyResponse
    from lambdad.safejson import JsonTooDeep
    from lambdad.services.sns.filter_policy import FilterPolicyError

    for cls in (JsonTooDeep, BadProxyResponse, FilterPolicyError):
        assert issubclass(cls, ValueError) and issubclass(cls, LambdadError)

from __future__ import annotations

import requests_managed


def test_all_is_sorted_and_exactly_what_is_exported() -> None:
    exported = {
        name
        for name in dir(requests_managed)
        if not name.startswith("_")
        and name not in {"annotations", "logging", "exceptions", "cli", "otel"}
    }
    assert sorted(requests_managed.__all__) == requests_managed.__all__
    assert set(requests_managed.__all__) - {"__version__"} == exported


def test_implementation_modules_are_private() -> None:
    import pkgutil

    names = {m.name for m in pkgutil.iter_modules(requests_managed.__path__)}
    public = {n for n in names if not n.startswith("_")}
    assert public == {"cli", "exceptions", "otel"}


def test_adoption_api_is_exported() -> None:
    expected = {
        "Installation",
        "install",
        "installed",
        "uninstall",
        *("delete", "get", "head", "options", "patch", "post", "put", "request"),
    }
    assert expected <= set(requests_managed.__all__)

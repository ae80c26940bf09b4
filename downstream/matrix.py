"""Resolve downstream/matrix.txt into pip requirements, one combination a line.

    python3 downstream/matrix.py [NAME...]

prints, for each combination (all of them, or those named, in file order),
``NAME<TAB>REQUESTS_REQUIREMENT<TAB>URLLIB3_REQUIREMENT``, e.g.
``oldest\trequests==2.32.2\turllib3==2.2.0`` or ``newest\trequests\turllib3``.
``lowest`` is read from pyproject.toml's ``[project] dependencies``, which
must give each of requests and urllib3 a ``>=`` lower bound.
"""

from __future__ import annotations

import pathlib
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    sys.exit("downstream/matrix.py needs Python 3.11 or later (tomllib)")

HERE = pathlib.Path(__file__).resolve().parent
MATRIX = HERE / "matrix.txt"
PYPROJECT = HERE.parent / "pyproject.toml"
PACKAGES = ("requests", "urllib3")
VERSION = re.compile(r"\d+(\.\d+)*")


def lower_bounds(path: pathlib.Path = PYPROJECT) -> dict[str, str]:
    """``{"requests": "2.32.2", ...}`` from the ``>=`` bounds of the dependencies."""
    dependencies = tomllib.loads(path.read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    bounds: dict[str, str] = {}
    for dependency in dependencies:
        found = re.fullmatch(
            r"\s*([A-Za-z0-9_.-]+)\s*(?:\[[^]]*\])?\s*([^;]*?)\s*(;.*)?", dependency
        )
        if found is None or found[1].lower() not in PACKAGES:
            continue
        for clause in filter(None, (c.strip() for c in found[2].split(","))):
            if clause.startswith(">="):
                bounds[found[1].lower()] = clause[2:].strip()
    missing = [name for name in PACKAGES if name not in bounds]
    if missing:
        sys.exit(f"{path.name}: no '>=' lower bound for {', '.join(missing)}")
    return bounds


def requirement(name: str, version: str, bounds: dict[str, str]) -> str:
    if version == "latest":
        return name
    if version == "lowest":
        version = bounds[name]
    if not VERSION.fullmatch(version):
        sys.exit(
            f"{MATRIX.name}: {name} version {version!r} is not lowest, latest "
            "or a release number"
        )
    return f"{name}=={version}"


def combinations() -> list[tuple[str, str, str]]:
    bounds = lower_bounds()
    rows = []
    for number, raw in enumerate(MATRIX.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        if len(line) != 3:
            sys.exit(
                f"{MATRIX.name}:{number}: expected 'NAME REQUESTS URLLIB3', got {raw!r}"
            )
        name, requests_version, urllib3_version = line
        rows.append(
            (
                name,
                requirement("requests", requests_version, bounds),
                requirement("urllib3", urllib3_version, bounds),
            )
        )
    return rows


def main(names: list[str]) -> None:
    rows = combinations()
    known = [row[0] for row in rows]
    unknown = [name for name in names if name not in known]
    if unknown:
        sys.exit(
            f"unknown combination {', '.join(unknown)}; "
            f"{MATRIX.name} has {', '.join(known)}"
        )
    for row in rows:
        if not names or row[0] in names:
            print("\t".join(row))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The lock files (installed by scripts/_venv.sh) pin every dependency that
pyproject.toml declares, at a version it allows, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", re.M)


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    assert text.count("--hash=sha256:") >= len(PIN.findall(text)), f"{lock} lacks hashes"
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(("lock", "declared"), [
    ("requirements.lock", PROJECT["dependencies"]),
    ("requirements-test.lock",
     PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
])
def test_the_lock_pins_every_declared_dependency_within_its_bounds(lock, declared):
    pins = _pins(lock)
    wrong = []
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name not in pins:
            wrong.append(f"{name} missing")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            wrong.append(f"{name}=={pins[name]} outside {requirement.specifier}")
    assert wrong == [], "regenerate the locks (scripts/_venv.sh says how)"

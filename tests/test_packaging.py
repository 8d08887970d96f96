"""pyproject.toml: the licence as an SPDX expression (PEP 639), with the setuptools that reads it."""
import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_string_and_the_build_needs_setuptools_77():
    config = tomllib.loads(PYPROJECT.read_text())
    assert config["project"]["license"] == "BSD-3-Clause"  # not the deprecated {text = ...} table
    requires = config["build-system"]["requires"]
    setuptools = [r for r in requires if re.match(r"setuptools\b", r)]
    assert len(setuptools) == 1
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools[0].replace(" ", ""))
    assert minimum and int(minimum.group(1)) >= 77, setuptools  # the first setuptools reading SPDX strings

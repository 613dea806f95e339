"""Under CI a test that skips for a missing optional dependency fails (tests/conftest.py)."""

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SKIPPING = """
import pytest
missing = pytest.importorskip("no_such_module_for_jitnet_tests")

def test_uses_it():
    pass
"""


@pytest.mark.parametrize("ci, outcome", [("true", {"errors": 1}), ("", {"skipped": 1})])
def test_a_missing_dependency_fails_only_under_ci(pytester, monkeypatch, ci, outcome):
    shutil.copy(Path(__file__).with_name("conftest.py"), pytester.path / "conftest.py")
    pytester.makepyfile(test_needs_missing=SKIPPING)
    monkeypatch.setenv("CI", ci)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(**outcome)

"""Test-session set-up: compiled code goes to a private cache folder, never the user's;
under CI (`CI=true`, as `.ci/run` sets) hypothesis draws the same examples every run."""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def _private_code_cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("JITNET_CACHE_DIR", str(tmp_path_factory.mktemp("jitnet-cache")))
    yield
    patch.undo()

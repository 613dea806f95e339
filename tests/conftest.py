"""Test-session set-up: compiled code goes to a private cache folder, never the user's."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_code_cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("JITNET_CACHE_DIR", str(tmp_path_factory.mktemp("jitnet-cache")))
    yield
    patch.undo()

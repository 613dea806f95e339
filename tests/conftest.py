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


# Under CI every optional feature's dependencies are installed (`.ci/run`), so a test that skips for a
# missing library, program or compiler there is a failure, not a quiet skip.
_MISSING = ("could not import", "needs the", "no C compiler", "is not installed", "not installed (")


def _missing_dependency(report) -> bool:
    if os.environ.get("CI") != "true" or not report.skipped or not isinstance(report.longrepr, tuple):
        return False
    return any(phrase in str(report.longrepr[2]) for phrase in _MISSING)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _missing_dependency(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _missing_dependency(report):
        report.outcome = "failed"

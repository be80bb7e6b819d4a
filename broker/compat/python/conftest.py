import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import weirtest  # noqa: E402
from weirtest import ACTIVE_BROKERS, Broker  # noqa: E402


def _start(tmp_dir, args=(), name="weir"):
    b = Broker(os.path.join(str(tmp_dir), "data"), args=args, name=name, log_dir=str(tmp_dir))
    b.start()
    return b


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One default broker (auto-create on) shared by a test module."""
    b = _start(tmp_path_factory.mktemp("weir"))
    yield b
    b.dispose()


@pytest.fixture
def broker_factory(tmp_path_factory):
    """Start dedicated brokers with extra flags; all are stopped at teardown."""
    started = []

    def make(*args, name="weir"):
        b = _start(tmp_path_factory.mktemp(name), args=args, name=name)
        started.append(b)
        return b

    yield make
    for b in started:
        b.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in list(ACTIVE_BROKERS):
            state = "alive" if b.alive() else f"exited rc={b.proc.returncode if b.proc else None}"
            rep.sections.append((f"weir stderr tail [{b.name} {b.bootstrap} {state}]",
                                 b.stderr_tail()))


def pytest_report_header(config):
    exists = "exists" if os.path.exists(weirtest.WEIR_BIN) else "MISSING"
    return f"WEIR_BIN={weirtest.WEIR_BIN} ({exists})"

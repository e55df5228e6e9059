import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realredis import RedisServer, redis_binary  # noqa: E402


@pytest.fixture
def redis_server(tmp_path):
    """A fresh, empty real redis-server on a free loopback port."""
    redis_binary()
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def start_redis(tmp_path):
    """Factory: start_redis(workdir=None, *config_args, dbfilename=..., appendonly=...)."""
    redis_binary()
    servers = []

    def start(workdir=None, *args, **kw):
        server = RedisServer(workdir or tmp_path / f"redis{len(servers)}", *args, **kw)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (long robustness sweeps) run only with PERSISTKIT_SLOW=1, so
    that the default suite stays quick; the quick variants of the same checks always run."""
    import os

    if os.environ.get("PERSISTKIT_SLOW", "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="slow sweep: PERSISTKIT_SLOW=1 runs it")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)

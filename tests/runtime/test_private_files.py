"""A service's files are its user's only: the stores hold customers' addresses and traits."""

from __future__ import annotations

import stat
from pathlib import Path

from cjo_stream.kafka.local_broker import LocalBroker
from tests.test_broker_loss_logs import run_until_ready, worker_env


def test_a_workers_stores_are_readable_by_its_user_only(tmp_path: Path) -> None:
    """RocksDB files were 644 in 755 directories: any local user could read the profiles (a security review)."""
    with LocalBroker() as broker:
        env = {**worker_env(broker.bootstrap, tmp_path), "CJO_STORE": "rocksdb"}
        run_until_ready(env, tmp_path / "worker.log")
    made = list((tmp_path / "data").rglob("*"))
    assert any(m.is_file() for m in made) and any(m.is_dir() for m in made), made
    open_to_others = [str(m) for m in made if stat.S_IMODE(m.stat().st_mode) & 0o077]
    assert not open_to_others, open_to_others

"""Profiles for a long replay: the most recently used in memory, the rest spilled to a RocksDB on disk.

A month of history has millions of customers; as Python objects a profile takes a few kilobytes, as
its stored msgpack a few hundred bytes. The replay keeps ``budget`` profiles live (a least-recently-used
order: most customers are active in bursts) and writes the others, encoded as the workers store them,
to a temporary RocksDB that is deleted when the replay ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, MutableMapping

from cjo_stream.profile import Profile, decode_profile, encode_profile


class SpillingProfiles(MutableMapping[str, Profile]):
    """A ``dict[str, Profile]`` that keeps at most ``budget`` profiles in memory."""

    def __init__(self, budget: int, directory: str | None = None) -> None:
        from rocksdict import Options, Rdict

        if budget < 1:
            raise ValueError("the in-memory budget must be at least one profile")
        self.budget = budget
        self._live: dict[str, Profile] = {}
        self._dir = tempfile.mkdtemp(prefix="cjo-replay-", dir=directory)
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        self._disk = Rdict(self._dir, options=opts)
        self._on_disk = 0
        self.spilled = 0  # profiles written to disk (evictions), for the report

    def __getitem__(self, key: str) -> Profile:
        live = self._live
        p = live.pop(key, None)
        if p is None:
            raw = self._disk.get(key.encode())
            if raw is None:
                raise KeyError(key)
            del self._disk[key.encode()]
            self._on_disk -= 1
            p = decode_profile(bytes(raw))
            self._make_room()
        live[key] = p  # most recently used last
        return p

    def get(self, key: str, default: Profile | None = None) -> Profile | None:  # type: ignore[override]
        # called for every event and timer: a live profile, or an unknown customer while nothing has
        # spilled, is answered without the KeyError (or the disk lookup) of ``self[key]``
        live = self._live
        p = live.pop(key, None)
        if p is not None:
            live[key] = p  # most recently used last
            return p
        if not self._on_disk:
            return default
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Profile) -> None:
        if key not in self._live:
            if self._on_disk and self._disk.get(key.encode()) is not None:
                del self._disk[key.encode()]
                self._on_disk -= 1
            self._make_room()
        else:
            del self._live[key]
        self._live[key] = value

    def __delitem__(self, key: str) -> None:
        if self._live.pop(key, None) is not None:
            return
        if self._disk.get(key.encode()) is None:
            raise KeyError(key)
        del self._disk[key.encode()]
        self._on_disk -= 1

    def _make_room(self) -> None:
        live = self._live
        while len(live) >= self.budget:
            oldest = next(iter(live))
            self._disk[oldest.encode()] = encode_profile(live.pop(oldest))
            self._on_disk += 1
            self.spilled += 1

    def __iter__(self) -> Iterator[str]:
        yield from list(self._live)
        for k in self._disk.keys():
            yield k.decode() if isinstance(k, bytes) else str(k)

    def __len__(self) -> int:
        return len(self._live) + self._on_disk

    def close(self) -> None:
        """Delete the on-disk part (the replay's profiles are scratch state)."""
        self._disk.close()
        shutil.rmtree(self._dir, ignore_errors=True)

"""The worker's per-partition stores: see :mod:`cjo_stream.kv` (shared with the adapters' sent-record)."""

from cjo_stream.kv import GROUP_SEP, KV, MemoryKV, RocksKV, RocksMemory, StoreFactory

__all__ = ["GROUP_SEP", "KV", "MemoryKV", "RocksKV", "RocksMemory", "StoreFactory"]

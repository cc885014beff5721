"""Benchmarks (``make bench``): see :mod:`cjo_stream.bench.runner`."""

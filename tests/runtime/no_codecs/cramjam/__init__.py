"""Put this directory first on PYTHONPATH to run a process without the snappy/lz4/zstd codec library.

aiokafka imports ``cramjam`` for those codecs and treats an ImportError as "codec not installed": the
state a consumer was in before the codecs became regular dependencies (issue 21).
"""

raise ImportError("cramjam is hidden by tests/runtime/no_codecs: this process has no snappy/lz4/zstd codecs")

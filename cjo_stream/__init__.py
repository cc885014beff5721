"""cjo-stream: Kafka-native customer journey orchestration."""

import os

if os.environ.get("CJO_PURE_PYTHON", "") not in ("", "0"):  # the sources, not the compiled builds (native.py)
    from cjo_stream.native import prefer_sources

    prefer_sources()

import sys

from cjo_stream.bench.runner import main

try:
    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C: each section stops what it started in its finally blocks; no traceback
    print("python -m cjo_stream.bench: interrupted", file=sys.stderr)
    sys.exit(130)

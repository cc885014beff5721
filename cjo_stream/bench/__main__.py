import sys

from cjo_stream.bench.runner import main

sys.exit(main())

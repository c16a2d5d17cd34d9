import sys

from worker_runner.cli import main

sys.exit(main())

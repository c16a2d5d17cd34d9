import sys

from thesis_console.main import main

sys.exit(main())

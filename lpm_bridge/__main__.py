import sys

from lpm_bridge.cli import main

sys.exit(main())

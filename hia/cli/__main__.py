import sys

from hia.cli import main

sys.exit(main())

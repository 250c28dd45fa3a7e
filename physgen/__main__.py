import sys

from physgen.cli import main

sys.exit(main())

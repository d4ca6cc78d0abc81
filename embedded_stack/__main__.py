import sys

from embedded_stack.stack import main

sys.exit(main())

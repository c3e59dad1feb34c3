"""python -m streamcnn: the streamcnn command line."""
import sys

from .cli import main

sys.exit(main())

"""`python -m entropy_attention_jax` runs the command-line interface."""

import sys

from entropy_attention_jax.cli import main

sys.exit(main())

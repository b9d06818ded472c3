"""``python -m vfhgan_core <command>``."""
from vfhgan_core.cli import main

raise SystemExit(main())

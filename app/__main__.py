"""``python -m app``: the same as ``python app.py``."""
from app import main

main()

"""Start the VFH-GAN demo: ``python app.py`` (``--help`` for the options). Also the Hugging Face Space entry point."""
from app import main

if __name__ == "__main__":
    main()

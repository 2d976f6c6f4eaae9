"""Streamlit entry point: `streamlit run app.py` (or `make app`)."""

from simcontainer.faces.ui.app import main

# Streamlit runs this file as __main__; a spawned simulation worker re-imports it as __mp_main__
# and must not run the app.
if __name__ == "__main__":
    main()

"""Streamlit entry point: `streamlit run app.py` (or `make app`)."""

from simcontainer.ui.app import main

main()

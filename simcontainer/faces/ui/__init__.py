"""Streamlit views. The only place in simcontainer that imports streamlit."""

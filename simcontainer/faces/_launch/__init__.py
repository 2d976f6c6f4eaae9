"""What ``simcontainer app`` hands to ``streamlit run`` (a folder of its own: Streamlit puts the
script's folder first on ``sys.path``)."""

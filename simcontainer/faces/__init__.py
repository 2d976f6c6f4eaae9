"""The faces: the command line, the Streamlit app and the Docker Engine API server. They only
call the library below them, and not each other."""

"""The app as ``simcontainer app`` starts it: ``streamlit run`` of this file, from the package.

``simcontainer app SCENARIO`` passes the scenario as the app's own link token (``?s=``, see
simcontainer.faces.ui.state) in SIMCONTAINER_APP_SCENARIO; a session that opens without a scenario in
its link starts from it.
"""

import os

import streamlit as st

from simcontainer.faces.ui.app import main

_token = os.environ.get("SIMCONTAINER_APP_SCENARIO")
if _token and not st.session_state.get("_simcontainer_launched"):
    st.session_state["_simcontainer_launched"] = True
    if not st.query_params.get("s"):
        st.query_params["s"] = _token

main()

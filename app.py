"""Tail Studio: get the long tail of a shop recommended.

Run with ``streamlit run app.py``. This file only routes: each page lives in ``pages/`` and all
computation in the ``recsys`` library.
"""

import logging
from pathlib import Path

import streamlit as st

import ui

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

# Resolved from this file, not the working directory, so `streamlit run /path/to/app.py` works anywhere.
LOGO = str(Path(__file__).resolve().parent / "assets" / "logo.svg")

st.set_page_config(page_title="Tail Studio", page_icon=LOGO, layout="wide")

pages = [
    st.Page("pages/catalog.py", title="Catalog", icon=":material/inventory_2:", default=True),
    st.Page("pages/map.py", title="Map", icon=":material/scatter_plot:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/whatif.py", title="What-if", icon=":material/tune:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/rules.py", title="Rules", icon=":material/rule:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/explore:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]
page = st.navigation(pages)
st.logo(LOGO)
ui.sidebar(ui.active_dataset())
page.run()

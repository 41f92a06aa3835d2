"""Tail Studio: get the long tail of a shop recommended.

Run with ``streamlit run app.py``. This file only routes: each page lives in ``pages/`` and all
computation in the ``recsys`` library.
"""

import logging

import streamlit as st

import ui

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Tail Studio", page_icon="assets/logo.svg", layout="wide")

pages = [
    st.Page("pages/catalog.py", title="Catalog", icon=":material/inventory_2:", default=True),
]
page = st.navigation(pages)
st.logo("assets/logo.svg")
ui.sidebar(ui.active_dataset())
page.run()

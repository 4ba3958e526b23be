"""Touch-size controls for the pages a patrol lead uses (log-in, patrol tablet).

A constant stylesheet (no data in it): every control at least 48 px for a gloved finger on an
820x1180 tablet: buttons, text inputs and the password eye, selects, radio and toggle labels,
the sidebar's open and close buttons. Streamlit's "Press Enter to apply" hint (English in both
languages, from Streamlit) is hidden.
"""

from __future__ import annotations

__all__ = ["TOUCH_CSS"]

TOUCH_CSS = """<style>
div[data-testid="stButton"] button, div[data-testid="stFormSubmitButton"] button {
  min-height: 56px; min-width: 96px; }
[data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapseButton"] button {
  min-width: 48px !important; min-height: 48px !important; }
[data-testid="stCheckbox"] label, [data-testid="stRadio"] label {
  min-height: 48px; min-width: 48px; align-items: center; padding-right: 12px; }
[data-testid="stRadio"] div[role="radiogroup"] { gap: 4px 12px; }
[data-testid="stSelectbox"] div[data-baseweb="select"] > div,
[data-testid="stSelectbox"] [role="group"] { min-height: 48px !important; height: auto !important; }
[data-testid="stSelectbox"] [role="group"] input { min-height: 46px; }
[data-testid="stTextInput"] input { min-height: 48px; font-size: 1.05rem; }
[data-testid="stTextInput"] div[data-baseweb="input"] { min-height: 48px; }
[data-testid="stTextInputRootElement"] button { min-width: 48px; min-height: 48px; }
[data-testid="InputInstructions"] { display: none; }
</style>"""

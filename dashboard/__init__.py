"""winterops dashboard: Streamlit + folium pages. The only package that imports streamlit."""

"""Streamlit-only helpers of the dashboard: session state, cached calls, widgets, frames and
Plotly figure builders. Page scripts in `pages/` only place what these modules build."""

"""Exports: standard exchange formats (EIDO, Open511, WZDx, CAP, GeoJSON, GeoPackage, CSV)."""

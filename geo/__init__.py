"""winterops geo layer: coordinates, road network, gazetteer, travel times, hotspot maths.

Bottom layer: imports only third-party packages.
"""

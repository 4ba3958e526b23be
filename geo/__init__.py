"""winterops geo layer: coordinates, road network, gazetteer, travel times, hotspot maths.

Bottom layer: imports only third-party packages. Its public names live in its modules
(``from geo.network import RoadGraph``); :data:`__all__` lists those modules, and importing the
package imports none of them.

============ ======================================================================
module       what it holds
============ ======================================================================
cache        :class:`~geo.cache.LockedLRU`, the thread-safe in-process cache
corepaths    exact travel times on the graph with its degree-2 chains contracted
coverage     coverage share and per-segment response times
crs          coordinate systems, datums (GCJ-02/BD-09), metric projections
errors       the geo error tree (:class:`~geo.errors.GeoError`)
gazetteer    place names and administrative codes
graph_build  how the road graph is built: cuts, nodes, edges, CSR layout
graph_paths  a fastest path as edges, a line and segment ids
hotspots     spatial weights, Gi*, hot clusters
network      the road graph and travel times
region       a region folder loaded as one :class:`~geo.region.Region`
road_files   a road agency's own file: layer, field mapping, required CRS, derived posts
road_schema  the road-file schema and its validation
roads        road files read and cut into segments; the road network (snapping, stakes)
snap_grid    the cell grid that snaps many points to the nearest segment at once
speeds       vehicle speeds and road-condition speed factors
stakes       kilometre posts (K12+300)
============ ======================================================================
"""

__all__ = [
    "cache",
    "corepaths",
    "coverage",
    "crs",
    "errors",
    "gazetteer",
    "graph_build",
    "graph_paths",
    "hotspots",
    "network",
    "region",
    "road_files",
    "road_schema",
    "roads",
    "snap_grid",
    "speeds",
    "stakes",
]

"""Live operations: the reports -> incidents pipeline, feeds kept in the database, the worker."""

from incidents.live.feeds import (
    FeedRow,
    import_config,
    list_feeds,
    migrate_settings_feeds,
    remove_feed,
    save_feed,
)
from incidents.live.pipeline import (
    PipelineResult,
    PipelineSink,
    feed_kinds,
    fuse_now,
    ingest_result,
    ingest_sources,
    rank_now,
    report_patrol_hazard,
    retire_recommendations,
    store_recommendations,
)
from incidents.live.worker import (
    FUSE_LEASE,
    CycleReport,
    Worker,
    claim_lease,
    live_workers,
    release_lease,
)

__all__ = [
    "FUSE_LEASE",
    "CycleReport",
    "FeedRow",
    "PipelineResult",
    "PipelineSink",
    "Worker",
    "claim_lease",
    "feed_kinds",
    "fuse_now",
    "import_config",
    "ingest_result",
    "ingest_sources",
    "list_feeds",
    "live_workers",
    "migrate_settings_feeds",
    "rank_now",
    "release_lease",
    "remove_feed",
    "report_patrol_hazard",
    "retire_recommendations",
    "save_feed",
    "store_recommendations",
]

"""Sources: the sources file in, local folders of documents out (folder, git checkout, fetched web pages).

``read_sources_file`` checks ``verbatim.toml``; ``sync_sources`` fetches each source and
then runs the incremental build over all of them.
"""

from index.sources.spec import SourcesFileError, SourceSpec, read_sources_file
from index.sources.sync import SourceSync, SyncReport, document_roots, last_sync, sync_sources

__all__ = [
    "SourceSpec",
    "SourceSync",
    "SourcesFileError",
    "SyncReport",
    "document_roots",
    "last_sync",
    "read_sources_file",
    "sync_sources",
]

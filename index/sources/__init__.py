"""Sources: the sources file in, local folders of documents out (folder, git checkout, fetched web pages).

``spec.read_sources_file`` checks ``verbatim.toml``; ``sync.update_index`` fetches each
source and then runs the incremental build over all of them. Only the spec is imported
here: the engine's configuration holds specs, and the build must not be imported with it.
"""

from index.sources.spec import SourcesFileError, SourceSpec, read_sources_file

__all__ = ["SourceSpec", "SourcesFileError", "read_sources_file"]

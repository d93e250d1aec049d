"""A sync killed with SIGKILL halfway leaves the previous index answering, and the next sync works."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from index import Engine
from index.sources.spec import SourceSpec
from index.sources.sync import sync_sources
from tests.conftest import REPO
from tests.index.sources.site import default_site, page, serve


def test_kill_9_during_a_sync_leaves_the_previous_index_answering(tmp_path, config, embedder):
    with serve() as site:
        default_site(site)
        spec = SourceSpec("site", "web", site.base + "/sitemap.xml", sitemap=True, max_pages=50)
        site.slow.clear()
        sync_sources([spec], config, embedder)
        question = "What is alpaca wool like?"
        before = Engine.load(config, embedder).ask(question).passages[0].text
        assert before == "Alpaca wool is soft and warm."

        site.html("/guide/alpacas.html", page("Alpacas", "<h2 id='wool'>Wool</h2><p>Alpaca wool is now blue.</p>"))
        site.slow["/guide/slow.html"] = 30.0  # holds the sync in the middle of its fetches
        script = textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(REPO)!r})
            from index.config import EngineConfig
            from index.ingest import ChunkingParams
            from index.sources.spec import SourceSpec
            from index.sources.sync import sync_sources
            from tests.conftest import HashingEmbedder
            config = EngineConfig(index_dir={str(config.index_dir)!r}, model=HashingEmbedder.name,
                                  chunking=ChunkingParams(max_chars=400, overlap=1))
            sync_sources([SourceSpec("site", "web", {spec.location!r}, sitemap=True)], config, HashingEmbedder())
            """
        )
        child = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
        try:
            deadline = time.monotonic() + 30
            while not any(p == "/guide/alpacas.html" for _, p, _ in site.requests[-20:]):
                assert child.poll() is None and time.monotonic() < deadline, "the sync never started"
                time.sleep(0.05)
            time.sleep(0.3)  # let it write what it fetched
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL

        assert Engine.load(config, embedder).ask(question).passages[0].text == before
        site.slow.clear()
        report = sync_sources([spec], config, embedder)
        assert report.build.changed == ("site/guide/alpacas.html",)
        assert Engine.load(config, embedder).ask(question).passages[0].text == "Alpaca wool is now blue."

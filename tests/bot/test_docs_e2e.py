"""/docs add, remove and list, /reindex source:, /sources and the scheduled sync, against the fake Discord."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.discord.render import unescape
from index import update_index
from tests.bot.conftest import StartBot, embed_of, is_ephemeral, make_settings, message_body, quotes_in
from tests.conftest import HashingEmbedder
from tests.fakediscord import RecordedCall
from tests.fakediscord.payloads import attachment
from tests.index.sources.site import default_site, outage, page, serve

LLAMA_DOC = "# Llama travel\n\n## Packing\n\nA travelling llama carries two saddlebags of hay.\n"
QUESTION = "What does a travelling llama carry?"


def _attachment_at(url: str, filename: str, size: int) -> dict[str, object]:
    # Served from 127.0.0.1: the fake Discord has no CDN, and nothing may leave the machine.
    payload = attachment(9001, filename, size, "text/markdown")
    payload["url"] = payload["proxy_url"] = url
    return payload


async def test_a_moderator_adds_a_document_that_is_answered_from_at_once_and_removes_it(verbatim: StartBot) -> None:
    h = await verbatim()
    fake = h.fake
    with serve() as site:
        site.pages["/files/travel.md"] = ("text/markdown", LLAMA_DOC)
        upload = _attachment_at(site.base + "/files/travel.md", "travel.md", len(LLAMA_DOC))

        refused = await h.run(fake.slash_command("docs add", {"file": upload}, user=fake.member))
        assert refused.json["data"]["content"] == "Only moderators can do that." and is_ephemeral(refused)
        assert site.requests == [], "a refused upload was downloaded"

        added = await h.run(fake.slash_command("docs add", {"file": upload}, user=fake.admin), timeout=15)
    body = message_body(added)
    assert body["content"].startswith("Stored **uploads/travel.md** (")
    assert "Added (1): uploads/travel.md" in body["content"] and is_ephemeral(added)
    answer = await h.ask(QUESTION)
    [(quote, cited), *_] = quotes_in(embed_of(answer)["description"])
    assert quote == "A travelling llama carries two saddlebags of hay." and cited.startswith("uploads/travel.md")

    listed = await h.run(fake.slash_command("docs list", user=fake.admin))
    assert embed_of(listed)["description"] == f"• uploads/travel.md ({len(LLAMA_DOC)} bytes)"
    typed = await h.run(fake.autocomplete("docs remove", {"name": "trav"}, focused="name", user=fake.admin))
    assert [c["value"] for c in typed.json["data"]["choices"]] == ["uploads/travel.md"]

    removed = await h.run(fake.slash_command("docs remove", {"name": "uploads/travel.md"}, user=fake.admin))
    assert "Removed (1): uploads/travel.md" in message_body(removed)["content"]
    after = await h.ask(QUESTION)
    assert all(not c.startswith("uploads/") for _, c in quotes_in(embed_of(after).get("description", "")))
    missing = await h.run(fake.slash_command("docs remove", {"name": "uploads/travel.md"}, user=fake.admin))
    assert message_body(missing)["content"].startswith("No uploaded document is named 'uploads/travel.md'.")


async def test_an_upload_in_a_format_i_do_not_read_is_refused_before_it_is_downloaded(verbatim: StartBot) -> None:
    h = await verbatim()
    with serve() as site:
        upload = _attachment_at(site.base + "/files/tool.exe", "tool.exe", 10)
        refused = await h.run(h.fake.slash_command("docs add", {"file": upload}, user=h.fake.admin))
        assert site.requests == []
    assert message_body(refused)["content"].startswith("'tool.exe' is not a format I read.")


async def test_a_scheduled_sync_posts_what_changed_to_the_mod_log_and_sources_shows_its_age(
    verbatim: StartBot, tmp_path
) -> None:
    with serve() as site:
        default_site(site)
        site.slow.clear()
        sources = tmp_path / "verbatim.toml"
        sources.write_text(
            f'[[source]]\nname = "site"\nsitemap = "{site.base}/sitemap.xml"\nrefresh = "1s"\n', encoding="utf-8"
        )
        h = await verbatim(sources_file=sources, mod_log_channel=0)  # the channel is set below
        fake = h.fake
        h.bot.settings.mod_log_channel = fake.channel_id
        posted = await fake.wait_for(
            lambda c: c.method == "POST" and c.path == f"/channels/{fake.channel_id}/messages", timeout=15
        )
        text = unescape(posted.json["content"])
        assert text.startswith("**Scheduled sync of site**") and "Synced site: " in text
        assert "Synced site: 0 pages fetched, 5 not modified, 4 skipped" in text
        assert "/missing.html (HTTP 404)" in text
        assert posted.json["allowed_mentions"]["parse"] == []

        listing = await h.run(fake.slash_command("sources"))
        [field] = embed_of(listing)["fields"]
        status = unescape(field["value"])
        assert field["name"] == "Sources" and status.startswith("• **site** (web): synced ")
        assert status.endswith(" s ago), every 1 s")
        # Answered from the site all along, the citation a link to the page's section.
        answer = await h.ask("How much can a llama carry?")
        cited = quotes_in(embed_of(answer)["description"])[0][1]
        assert cited == (
            "[site/guide/llamas.html › Llamas › Carrying, line 9 of the extracted text]"
            f"(<{site.base}/guide/llamas.html#carrying>)"
        )


async def test_reindex_source_fetches_the_one_named_and_an_unknown_name_is_one_line(
    verbatim: StartBot, tmp_path
) -> None:
    with serve() as site:
        default_site(site)
        site.slow.clear()
        sources = tmp_path / "verbatim.toml"
        sources.write_text(f'[[source]]\nname = "site"\nsitemap = "{site.base}/sitemap.xml"\n', encoding="utf-8")
        h = await verbatim(sources_file=sources)
        fake = h.fake
        typed = await h.run(fake.autocomplete("reindex", {"source": "si"}, focused="source", user=fake.admin))
        assert [c["value"] for c in typed.json["data"]["choices"]] == ["site"]
        unknown = await h.run(fake.slash_command("reindex", {"source": "nope"}, user=fake.admin))
        assert message_body(unknown)["content"] == "No source is named 'nope'. The sources are: site."
        site.requests.clear()
        ix = fake.slash_command("reindex", {"source": "site"}, user=fake.admin)
        await h.run(ix)
        done = await fake.wait_for(
            lambda c: (
                c.ok
                and f"/{ix['token']}/messages/@original" in c.path
                and "Reindex done" in (c.json.get("content") or "")
            ),
            timeout=15,
        )
        assert "Synced site: 0 pages fetched, 5 not modified" in unescape(done.json["content"])
        assert ("GET", "/sitemap.xml", 200) in site.requests

        with outage(site):
            down = fake.slash_command("reindex", {"source": "site"}, user=fake.admin)
            await h.run(down)
            report = await fake.wait_for(
                lambda c: (
                    c.ok and f"/{down['token']}/messages/@original" in c.path and "Reindex done" in c.json["content"]
                ),
                timeout=15,
            )
        text = unescape(report.json["content"])
        assert f"**Fetch failed**: site: fetch failed (sitemap {site.base}/sitemap.xml: cannot connect" in text
        assert "is still served" in text and "Synced site" not in text and "Removed" not in text


async def test_a_site_down_between_two_scheduled_syncs_keeps_the_bot_answering_even_across_a_restart(
    verbatim: StartBot, tmp_path
) -> None:
    question = "How much can a llama carry?"
    with serve() as site:
        default_site(site)
        site.slow.clear()
        sources = tmp_path / "verbatim.toml"
        sources.write_text(
            f'[[source]]\nname = "site"\nsitemap = "{site.base}/sitemap.xml"\nrefresh = "1s"\n', encoding="utf-8"
        )
        h = await verbatim(sources_file=sources, mod_log_channel=0)
        fake = h.fake
        h.bot.settings.mod_log_channel = fake.channel_id
        mod_log = f"/channels/{fake.channel_id}/messages"

        def posted(text: str, since: int) -> Callable[[], Awaitable[RecordedCall]]:
            return lambda: fake.wait_for(
                lambda c: c.method == "POST" and c.path == mod_log and text in unescape(c.json["content"]),
                timeout=15,
                since=since,
            )

        with outage(site):
            failed = await posted("**Scheduled sync of site failed**", len(fake.calls))()
            text = unescape(failed.json["content"])
            assert text.startswith(
                f"**Scheduled sync of site failed**: site: fetch failed (sitemap {site.base}/sitemap.xml: cannot connect"
            )
            assert " is still served" in text and "VERBATIM_DOCS_DIR" not in text and "\n" not in text
            answer = await h.ask(question)
            assert quotes_in(embed_of(answer)["description"])[0][0] == "A llama can carry 25 kg over 20 km."

            # A restart while the site is still down: the first bot stops (the fake Discord
            # stops watching it, or it would report its end as a crash), a second one starts.
            [first] = [t for t in asyncio.all_tasks() if t.get_name() == f"fakediscord-bot-{id(h.bot):x}"]
            fake.signal.unwatch(first)
            await h.bot.close()
            again = await verbatim(sources_file=sources, mod_log_channel=fake.channel_id, write=False)
            answer = await again.ask(question)
            assert quotes_in(embed_of(answer)["description"])[0][0] == "A llama can carry 25 kg over 20 km."
            listing = await again.run(fake.slash_command("sources"))
            status = unescape(embed_of(listing)["fields"][0]["value"])
            assert status.startswith("• **site** (web): synced ") and "; the fetch of " in status
            back_from = len(fake.calls)

        site.html("/guide/alpacas.html", page("Alpacas", "<h2 id='wool'>Wool</h2><p>Alpacas hum at night.</p>"))
        back = await posted("**Scheduled sync of site**\n", back_from)()
        assert "Synced site: 1 pages fetched, 4 not modified" in unescape(back.json["content"])
        hum = await again.ask("What do alpacas do at night?")
        assert quotes_in(embed_of(hum)["description"])[0][0] == "Alpacas hum at night."


async def test_only_the_index_writer_runs_the_scheduled_syncs(verbatim: StartBot, tmp_path, fake_discord) -> None:
    """A shard process without shard 0 answers from the index the writer keeps fresh, and
    never fetches a source itself: two processes syncing would build over each other."""
    fake = fake_discord
    with serve() as site:
        default_site(site)
        site.slow.clear()
        sources = tmp_path / "verbatim.toml"
        sources.write_text(
            f'[[source]]\nname = "site"\nsitemap = "{site.base}/sitemap.xml"\nrefresh = "1s"\n', encoding="utf-8"
        )
        # The writer's first build, as the process running shard 0 makes it.
        writer_settings = make_settings(tmp_path, fake, sources_file=sources)
        await asyncio.to_thread(update_index, writer_settings.engine_config(), HashingEmbedder())
        site.requests.clear()
        h = await verbatim(sources_file=sources, shard_count=2, shard_ids=[1], mod_log_channel=fake.channel_id)
        assert not h.service.writer
        answer = await h.ask("How much can a llama carry?")
        assert quotes_in(embed_of(answer)["description"])[0][1].startswith("[site/guide/llamas.html")
        await asyncio.sleep(3.0)  # the writer syncs within about 1 s (the test above)
    assert site.requests == [], "a shard process other than the writer fetched the source"
    posted = [c for c in fake.calls if c.method == "POST" and c.path == f"/channels/{fake.channel_id}/messages"]
    assert posted == [], "a sync was reported to the mod log"

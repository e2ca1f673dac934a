"""Stories in the store: copies join, sources are counted, one alert per (rule, story, target)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import RetentionConfig
from monitor.dedupe import DedupePolicy, canonical_url, text_print
from monitor.store import Store
from monitor.types import Article, Entry, Match

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TARGETS = {"rare-earths": ["mail", "hook"], "japan": ["mail"]}
WIRE = [
    "Japan and the United States signed an agreement on Tuesday to secure supplies of rare earths and other "
    "critical minerals, as both countries seek to reduce their reliance on Chinese processing.",
    "The pact commits both governments to coordinate stockpiles, fund new mines and refineries, and share "
    "geological survey data, officials in Tokyo and Washington told reporters.",
    "Neodymium, dysprosium and terbium prices jumped after the announcement, traders in Singapore said.",
]
OTHER = [
    "Australia opened its first heavy rare earths refinery in Western Australia on Friday, a step the "
    "government said would cut dependence on imported separated oxides.",
    "The plant will process concentrate from three mines and employ four hundred people when fully running "
    "next year, the operator said in a statement to the stock exchange.",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


def article(n: int, title: str, paragraphs: list[str], feed: str = "a") -> Article:
    url = f"https://{feed}.example/news/{n}?utm_source=rss"
    return Article(
        url=canonical_url(url),
        link=url,
        title=title,
        text="\n".join(paragraphs),
        feed_url=f"https://{feed}.example/feed",
        feed_name=feed,
        entry_key=f"{feed}-{n}",
    )


def match(rule: str) -> Match:
    return Match(rule=rule, hits=(), snippet="…")


def test_copies_join_the_story_and_do_not_alert_again(store: Store) -> None:
    pact = article(1, "Japan, US sign rare-earth pact", WIRE)
    first = store.record_article(pact, [match("rare-earths")], TARGETS, NOW)
    assert first.new_story and first.alerts == 2
    copy_b = article(7, "Tokyo and Washington agree on critical minerals", ["Advertisement", *WIRE], feed="b")
    second = store.record_article(copy_b, [match("rare-earths")], TARGETS, NOW + timedelta(minutes=5))
    assert (second.new_article, second.new_story, second.story_id) == (True, False, first.story_id)
    assert second.alerts == 0 and second.matched_rules == ()
    copy_c = article(9, "Rare earths deal", [WIRE[0].replace("Tuesday", "Tue."), WIRE[1]], feed="c")
    third = store.record_article(copy_c, [match("rare-earths")], TARGETS, NOW + timedelta(minutes=9))
    assert third.story_id == first.story_id
    alerts = store.due_alerts(NOW + timedelta(hours=1))
    assert [(a.target, a.sources, a.title) for a in alerts] == [
        ("mail", 3, "Japan, US sign rare-earth pact"),
        ("hook", 3, "Japan, US sign rare-earth pact"),
    ]


def test_same_feed_twice_is_one_source(store: Store) -> None:
    store.record_article(article(1, "Pact", WIRE), [], TARGETS, NOW)
    again = store.record_article(article(2, "Pact (updated)", WIRE), [], TARGETS, NOW)
    assert not again.new_story
    assert store.db["stories"].get(again.story_id)["sources"] == 1


def test_a_copy_that_matches_a_new_rule_alerts_for_that_rule_only(store: Store) -> None:
    first = store.record_article(article(1, "Pact", WIRE), [match("rare-earths")], TARGETS, NOW)
    later = store.record_article(
        article(2, "Japan deal", WIRE, feed="b"), [match("rare-earths"), match("japan")], TARGETS, NOW
    )
    assert later.story_id == first.story_id
    assert later.matched_rules == ("japan",) and later.alerts == 1


def test_distinct_story_on_the_same_topic_is_new(store: Store) -> None:
    first = store.record_article(article(1, "Pact", WIRE), [match("rare-earths")], TARGETS, NOW)
    other = store.record_article(article(2, "Refinery", OTHER, feed="b"), [match("rare-earths")], TARGETS, NOW)
    assert other.new_story and other.story_id != first.story_id and other.alerts == 2


def test_copies_outside_the_window_start_a_new_story(store: Store) -> None:
    first = store.record_article(article(1, "Pact", WIRE), [match("rare-earths")], TARGETS, NOW)
    policy = DedupePolicy(window=timedelta(days=2))
    late = store.record_article(article(2, "Pact", WIRE, feed="b"), [], TARGETS, NOW + timedelta(days=3), policy)
    assert late.new_story and late.story_id != first.story_id
    inside = store.record_article(article(3, "Pact", WIRE, feed="c"), [], TARGETS, NOW + timedelta(days=4), policy)
    assert inside.story_id == late.story_id  # the window counts from the story's latest article


def test_feed_furniture_does_not_make_stories_alike(store: Store) -> None:
    footer = (
        "Subscribe to the Harbour Daily business newsletter for market moving headlines, exclusive analysis, "
        "weekend long reads, podcasts and invitations to reader events across the region every single morning."
    )
    store.record_article(article(1, "Pact", [*WIRE, footer]), [], TARGETS, NOW)
    store.record_article(article(2, "Refinery", [*OTHER, footer]), [], TARGETS, NOW)
    # A short item whose words are mostly the footer: without learning the footer it would join story 2.
    short = article(3, "Port strike ends", ["Dock workers in Rotterdam ended their strike after a wage deal.", footer])
    assert store.record_article(short, [], TARGETS, NOW).new_story


def test_guid_churn_with_the_same_link_is_not_new(store: Store) -> None:
    stored = article(1, "Pact", WIRE)
    store.record_article(stored, [], TARGETS, NOW)
    churned = Entry(key="new-guid", feed_url=stored.feed_url, title="Pact", link=stored.link, summary="")
    tracked = Entry(
        key="guid-3", feed_url=stored.feed_url, title="Pact", link=stored.link + "&fbclid=abc#top", summary=""
    )
    entries = [churned, tracked]
    urls = [canonical_url(e.link or "") for e in entries]
    assert store.unseen_entries(stored.feed_url, entries, urls) == []


def test_prune_forgets_paragraphs_seen_once(store: Store) -> None:
    store.record_article(article(1, "Pact", WIRE), [], TARGETS, NOW - timedelta(days=200))
    store.record_article(article(2, "Refinery", OTHER), [], TARGETS, NOW)
    before = store.db["furniture"].count
    store.prune(NOW, RetentionConfig())
    assert store.db["furniture"].count == before - len(WIRE)


def test_band_lookup_is_indexed(store: Store) -> None:
    assert any(ix.columns == ["band", "seen"] for ix in store.db["article_bands"].indexes)
    assert any(ix.columns == ["content_hash", "fetched"] for ix in store.db["articles"].indexes)


@pytest.mark.parametrize("learned", [False, True])
def test_prints_from_the_worker_store_what_the_store_would_compute(tmp_path: Path, learned: bool) -> None:
    footer = "Subscribe to the Harbour Daily business newsletter for market moving headlines every single morning."
    items = [article(1, "Pact", [*WIRE, footer]), article(2, "Refinery", [*OTHER, footer])]
    items.append(article(3, "Port strike", ["Dock workers in Rotterdam ended their strike.", footer, footer]))
    rows = []
    for with_prints in (False, True):
        s = Store.open(tmp_path / f"{with_prints}.db")
        try:
            for a in items if learned else items[-1:]:
                prints = text_print(a.feed_url, a.text) if with_prints else None
                s.record_article(a, [], TARGETS, NOW, None, prints)
            rows.append(
                (
                    s._query("SELECT url, story_id, content_hash, words, minhash FROM articles ORDER BY id"),
                    s._query("SELECT key, story_id, stories FROM furniture ORDER BY key"),
                )
            )
        finally:
            s.close()
    assert rows[0] == rows[1]
    assert rows[0][1]  # the paragraphs were keyed
    if learned:  # the footer became furniture (two stories) and was left out of the third article
        assert any(r["stories"] >= 2 for r in rows[0][1])

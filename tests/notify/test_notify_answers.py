"""Campaign notifications a sheriff reads: the answer first, a short table, links.

Every campaign kind and end (finished, failed, gave-up, canceled) through every renderer
(text, Markdown, HTML). The campaigns' answers are computed by the core (see
tests/sample_campaigns.py), the notification built as the actuator builds it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest
import sample_campaigns as samples

from mozci_monitor.actuator import build_notification
from mozci_monitor.core.campaign import Campaign, notification_action
from mozci_monitor.core.links import Links
from mozci_monitor.notify import Notification, render_html, render_markdown, render_text
from mozci_monitor.notify.taskcluster_notify import email_request
from mozci_monitor.notify.webhook import webhook_payload

LINKS = Links("https://th.example.org", "https://tc.example.org")
RENDERERS = {"text": render_text, "markdown": render_markdown, "html": render_html}
EVERY = {sample.campaign.campaign_id: sample.campaign for sample in samples.every_kind()}


def _notify(campaign: Campaign) -> Notification:
    return build_notification(notification_action(campaign), campaign, LINKS)


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@pytest.mark.parametrize("campaign_id", sorted(EVERY))
def test_every_kind_and_end_reads_as_sentences_with_links(campaign_id: str, renderer: str) -> None:
    campaign = EVERY[campaign_id]
    out = RENDERERS[renderer](_notify(campaign))
    assert "{'" not in out and "answer:" not in out  # no Python dict, ever
    push_url = f"https://th.example.org/jobs?repo=autoland&revision={campaign.push.revision}"
    group_url = f"https://tc.example.org/tasks/groups/{campaign.push.task_group_id}"
    assert push_url.replace("&", "&amp;" if renderer == "html" else "&") in out
    assert group_url in out
    # The answer first: the headline is the answer sentence (which names the push), not
    # a template with the campaign id.
    if renderer == "html":
        headline = out.split("<strong>", 1)[1].split("</strong>", 1)[0]
        assert out.startswith("<p><strong>")
    else:
        headline = out.splitlines()[0].strip("*")
    assert campaign.push.repo in headline, headline
    assert campaign.campaign_id not in headline


def test_backfill_answer_names_first_bad_and_last_good() -> None:
    note = _notify(samples.backfill().campaign)
    first_bad, last_good = samples.revision(103)[:12], samples.revision(102)[:12]
    assert note.title == (
        f"{samples.LABEL} first fails at {first_bad} (push 103) on autoland;"
        f" last good {last_good} (push 102)"
    )
    text = render_text(note).splitlines()
    assert text[0] == note.title
    header = next(
        n
        for n, line in enumerate(text)
        if line.split() == ["push", "revision", "verdict", "green", "orange"]
    )
    assert text[header + 2].split() == ["102", last_good, "passed", "(last", "good)", "2", "0"]
    assert text[header + 3].split() == ["103", first_bad, "failed", "(first", "bad)", "0", "1"]
    assert (
        f"first bad push in Treeherder: https://th.example.org/jobs?repo=autoland&revision={samples.revision(103)}"
        in text
    )


def test_backfill_never_passed() -> None:
    note = _notify(samples.backfill_never_passed().campaign)
    assert note.title == (
        f"{samples.LABEL} never passed in the 2 pushes analysed on autoland;"
        f" earliest failure {samples.revision(101)[:12]} (push 101)"
    )


def test_bisect_answer_gives_the_push_and_the_rates_either_side() -> None:
    note = _notify(samples.bisect().campaign)
    # 2 failures in 30 runs before push 104, 19 in 30 from it on.
    assert note.title.startswith(
        f"{samples.LABEL}: the failure rate rises at {samples.revision(104)[:12]} (push 104)"
        " on autoland from 7% to 63% (z="
    ), note.title
    markdown = render_markdown(note)
    assert "| push | revision | runs | failed | rate | 95% interval |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| 104 |"))
    assert (
        f"[{samples.revision(104)[:12]}](https://th.example.org/jobs?repo=autoland&revision={samples.revision(104)})"
        in row
    )
    assert "| 10 | 6 | 60% (rises here) |" in row


def test_bisect_without_change() -> None:
    note = _notify(samples.bisect_no_change().campaign)
    assert note.title == (
        f"{samples.LABEL}: no significant rise of the failure rate over 3 pushes on autoland"
    )


def test_until_fail_hit_links_the_failing_task() -> None:
    sample = samples.until_fail()
    note = _notify(sample.campaign)
    task = sample.requests[0].first_orange
    assert note.title == (
        f"{samples.LABEL} failed on run 8 on autoland {samples.PUSH.revision[:12]}"
        f" (7 green runs before it): task {task}"
    )
    html = render_html(note)
    assert f'<a href="https://tc.example.org/tasks/{task}">{task}</a>' in html
    assert "<th>failing task</th>" in html


def test_until_fail_without_failure() -> None:
    note = _notify(samples.until_fail(hit=False).campaign)
    assert note.title == (
        f"{samples.LABEL} did not fail in 50 runs on autoland {samples.PUSH.revision[:12]}"
    )


def test_canceled_failed_and_gave_up_say_so_with_the_reason() -> None:
    assert _notify(EVERY["c-watch-canceled"]).title.endswith("was canceled: canceled by a sheriff")
    failed = _notify(EVERY["c-watch-failed"]).title
    assert " failed: 0 of 1 satisfied;" in failed and failed.endswith("test failure")
    gave_up = _notify(EVERY["c-watch-gave-up"]).title
    assert " gave up: per-request budget of 3 tasks spent" in gave_up


def test_downstream_and_fill_count_what_they_added() -> None:
    assert _notify(samples.downstream().campaign).title == (
        f"Downstream of {samples.BUILD} on autoland {samples.PUSH.revision[:12]}:"
        " 2 missing jobs scheduled, all ran as wanted"
    )
    assert _notify(samples.fill().campaign).title.startswith("Fill on autoland ")


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")
        if tag not in ("br",):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()


def test_html_is_balanced_and_hostile_text_stays_text() -> None:
    hostile = '<img src=x onerror="alert(1)"> | *bold* [x](javascript:alert(1))'
    campaign = replace(samples.backfill().campaign, label=hostile)
    note = _notify(campaign)
    html = render_html(note)
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    assert parser.open == []
    assert "<img" not in html
    assert all(href.startswith("https://") for href in parser.hrefs)
    markdown = render_markdown(note)
    # Markup characters are backslash-escaped: no tag, no link to javascript:.
    assert re.search(r"(?<!\\)[<>]", markdown) is None
    assert re.search(r"(?<!\\)\]\(javascript", markdown) is None
    assert r"\*bold\*" in markdown and r"\|" in markdown


@pytest.mark.parametrize("campaign_id", sorted(EVERY))
def test_mail_subject_names_kind_and_outcome_then_the_answer(campaign_id: str) -> None:
    campaign = EVERY[campaign_id]
    note = _notify(campaign)
    subject = email_request(note, "sheriff@example.org")["subject"]
    assert subject == f"mozci-monitor {campaign.kind.value} {campaign.state.value}: {note.title}"


def test_webhooks_get_markdown_and_html() -> None:
    note = _notify(samples.bisect().campaign)
    payload = webhook_payload(note)
    assert payload["text"] == render_markdown(note)
    assert payload["html"] == render_html(note)


def test_plain_text_has_no_markup() -> None:
    out = render_text(_notify(samples.bisect().campaign))
    assert not re.search(r"\*\*|\]\(|<a ", out)


def test_a_search_answer_gives_the_culprit_its_confidence_and_what_was_checked() -> None:
    from mozci_monitor.core.kinds import bisect

    entries = [
        {
            "push_id": 101 + i,
            "revision": samples.revision(101 + i),
            "task_group_id": samples.PUSH.task_group_id,
            "green": green,
            "orange": orange,
        }
        for i, (green, orange) in enumerate([(40, 0), (40, 0), (0, 5), (0, 5)])
    ]
    start = replace(
        samples.bisect().campaign,
        params={"strategy": "search", "times": 10, "pushes": entries},
        state=samples.bisect().campaign.state.RUNNING,
        summary={},
    )
    note = _notify(bisect.progress(start, []).campaign)
    assert note.title.startswith(
        f"{samples.LABEL} first fails at {samples.revision(103)[:12]} (push 103) on autoland;"
        f" last good {samples.revision(102)[:12]} (push 102) (confidence 99."
    ), note.title
    assert note.title.endswith("90 runs; still fails at the newest push analysed)")
    entries[2]["changesets"] = [samples.revision(103)]
    entries[3]["backs_out"] = [samples.revision(103)[:12]]
    backed_out = replace(start, params={**start.params, "pushes": entries})
    note = _notify(bisect.progress(backed_out, []).campaign)
    assert note.title.endswith(
        f"analysed); already backed out by {samples.revision(104)[:12]} (push 104)"
    ), note.title


def _until_hit(hit: bool) -> Campaign:
    """An until-fail judged by a test, its answer as the kind's core module writes it."""
    campaign = samples.until_fail(hit=hit).campaign
    task = "fZ2DCZOzRiGAk3m2Hf1fOw"
    answer = {
        "hit": {"task_id": task, "run_id": 1} if hit else None,
        "runs": 9 if hit else 50,
        "passes": 7 if hit else 49,
        "missing": 1,
        "other_failures": {"test:dom/a/test_other.html": 6, "crash:mozalloc_abort": 1},
        "signature": "test:dom/a/test_planted.html",
        "failed_task": task if hit else None,
        "green": 2,
        "orange": 7,
    }
    return replace(campaign, summary={**campaign.summary, "answer": answer})


def test_until_fail_by_test_names_the_hit_run_with_its_log_and_the_other_failures() -> None:
    note = _notify(_until_hit(True))
    task = "fZ2DCZOzRiGAk3m2Hf1fOw"
    assert note.title == (
        f"test:dom/a/test_planted.html hit on run 9 of {samples.LABEL} on autoland"
        f" {samples.PUSH.revision[:12]} (7 other failures seen): task {task}"
    )
    text = render_text(note)
    log = f"https://tc.example.org/api/queue/v1/task/{task}/runs/1/artifacts/public/logs/live_backing.log"
    assert f"its log: {log}" in text
    assert f"selectedTaskRun={task}-1" in text
    # the other failures, most frequent first, with their counts
    assert text.index("other: test:dom/a/test_other.html") < text.index(
        "other: crash:mozalloc_abort"
    )
    html = render_html(note)
    assert f'<a href="https://tc.example.org/tasks/{task}">{task}</a>' in html


def test_until_fail_by_test_without_a_hit() -> None:
    note = _notify(_until_hit(False))
    assert note.title == (
        f"test:dom/a/test_planted.html not hit in 50 runs of {samples.LABEL} on autoland"
        f" {samples.PUSH.revision[:12]} (7 other failures seen)"
    )


def test_confirm_answer_first_then_a_row_per_test_with_the_run_that_decided() -> None:
    campaign = samples.confirm().campaign
    note = _notify(campaign)
    where = f"autoland {samples.PUSH.revision[:12]}"
    assert note.title == (
        f"{samples.LABEL} on {where}: regression: {samples.REGRESSED_TEST};"
        f" intermittent: {samples.FLAKY_TEST} (by -cf tasks)"
    )
    assert note.table is not None
    assert note.table.columns == ("test", "answer", "runs", "failed", "decided by")
    rows = [[c if isinstance(c, str) else c.text for c in row] for row in note.table.rows]
    assert rows == [
        [samples.REGRESSED_TEST, "regression", "1", "1", "TaskCf01" + "D" * 14],
        [samples.FLAKY_TEST, "intermittent", "1", "0", "TaskCf02" + "D" * 14],
    ]
    decided = note.table.rows[0][4]
    assert not isinstance(decided, str)
    assert decided.url == LINKS.task_run("autoland", samples.PUSH.revision, "TaskCf01" + "D" * 14)
    links = {link.text: link.url for link in note.links}
    assert links["the failing run in Treeherder"] == LINKS.task_run(
        "autoland", samples.PUSH.revision, samples.FAILING_TASK, 0
    )
    assert links["failing task in Taskcluster"] == LINKS.task(samples.FAILING_TASK)
    # every renderer: the answer first, then the table with the tests
    for name, render in RENDERERS.items():
        out = render(note)
        assert out.index("regression: ") < out.index("decided by"), name
        assert out.count("regressed.js") >= 2, name  # the answer, and its row


def test_a_confirm_that_gave_up_says_why_and_what_it_cannot_tell() -> None:
    note = _notify(samples.confirm(gave_up=True).campaign)
    assert note.title.startswith(
        f"Confirm of {samples.LABEL} on autoland {samples.PUSH.revision[:12]} gave up:"
        " confirm-failures produced nothing"
    )
    assert "cannot tell for 2 test(s)" in note.title
    assert note.table is not None
    assert [row[1] for row in note.table.rows] == ["unknown", "unknown"]

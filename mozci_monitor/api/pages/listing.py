"""The campaign list, filtered by state, kind and repository (`/campaigns?state=open&…`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from mozci_monitor.api.pages.layout import badge, campaign_colour, link, page
from mozci_monitor.api.validation import ApiError
from mozci_monitor.core.campaign import Campaign, CampaignKind, CampaignState
from mozci_monitor.core.links import Links

# "open": still running; "final": ended whichever way; or one campaign state.
STATE_FILTERS = ("open", "final", *(state.value for state in CampaignState))
KIND_FILTERS = tuple(kind.value for kind in CampaignKind)
MAX_REPO_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ListFilters:
    state: str | None = None
    kind: str | None = None
    repo: str | None = None

    @property
    def open_only(self) -> bool:
        return self.state in ("open", CampaignState.RUNNING.value)

    def keeps(self, campaign: Campaign) -> bool:
        if self.kind is not None and campaign.kind.value != self.kind:
            return False
        if self.repo is not None and campaign.push.repo != self.repo:
            return False
        if self.state == "open":
            return not campaign.is_final
        if self.state == "final":
            return campaign.is_final
        return self.state is None or campaign.state.value == self.state


def parse_filters(query: Mapping[str, str]) -> ListFilters:
    """The page's query, checked: unknown names and values are refused with a 400."""
    for name in sorted(query):
        if name not in {"state", "kind", "repo"}:
            raise ApiError(400, f"{name}: unknown query parameter", name)
    state = query.get("state") or None
    kind = query.get("kind") or None
    repo = query.get("repo") or None
    if state is not None and state not in STATE_FILTERS:
        raise ApiError(400, f"state: one of {', '.join(STATE_FILTERS)}", "state")
    if kind is not None and kind not in KIND_FILTERS:
        raise ApiError(400, f"kind: one of {', '.join(KIND_FILTERS)}", "kind")
    if repo is not None and (len(repo) > MAX_REPO_LENGTH or not repo.isprintable()):
        raise ApiError(400, "repo: a repository name", "repo")
    return ListFilters(state, kind, repo)


def list_page(
    campaigns: Sequence[Campaign], filters: ListFilters, links: Links, *, searched: int
) -> str:
    shown = [campaign for campaign in campaigns if filters.keeps(campaign)]
    rows = "".join(_row(campaign, links) for campaign in shown)
    table = (
        '<table class="campaigns"><tr><th>campaign</th><th>state</th><th>kind</th>'
        "<th>label</th><th>push</th><th>outcome</th></tr>" + rows + "</table>"
        if shown
        else '<p class="empty">no campaign matches</p>'
    )
    body = (
        f"<section>{_form(filters)}"
        f'<p class="meta">{len(shown)} shown, of the newest {searched} campaigns</p></section>'
        f"<section>{table}</section>"
    )
    return page("campaigns", body)


def _row(campaign: Campaign, links: Links) -> str:
    push = campaign.push
    colour = campaign_colour(campaign.state.value)
    page_url = "/campaigns/" + quote(campaign.campaign_id, safe="")
    return (
        f'<tr class="campaign-row c-{colour}" data-campaign-id="{escape(campaign.campaign_id)}">'
        f"<td>{link(page_url, campaign.campaign_id, cls='mono campaign-link')}</td>"
        f"<td>{badge(campaign.state.value, colour)}</td>"
        f"<td>{escape(campaign.kind.value)}</td>"
        f'<td class="mono">{escape(campaign.label or "")}</td>'
        f"<td>{escape(push.repo)} "
        f"{link(links.push(push.repo, push.revision), push.revision[:12], cls='mono push')}</td>"
        f'<td class="note">{escape(campaign.outcome or "")}</td></tr>'
    )


def _form(filters: ListFilters) -> str:
    return (
        '<form class="filters" method="get" action="/campaigns">'
        + _select("state", STATE_FILTERS, filters.state)
        + _select("kind", KIND_FILTERS, filters.kind)
        + '<label>repository<input name="repo" maxlength="100"'
        f' value="{escape(filters.repo or "")}"></label>'
        '<button type="submit">filter</button></form>'
    )


def _select(name: str, values: Sequence[str], chosen: str | None) -> str:
    options = ['<option value="">any</option>']
    for value in values:
        selected = " selected" if value == chosen else ""
        options.append(f'<option value="{escape(value)}"{selected}>{escape(value)}</option>')
    return f'<label>{name}<select name="{name}">{"".join(options)}</select></label>'

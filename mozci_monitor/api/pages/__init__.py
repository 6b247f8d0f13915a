"""Server-rendered HTML pages: the campaign list and one page per campaign.

No script and no external asset: the pages are built on the server with every piece of
user or Taskcluster text escaped, so a page is readable (and linkable) as it was served.
"""

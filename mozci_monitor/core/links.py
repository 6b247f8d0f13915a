"""Where a sheriff looks at a push or a task: Treeherder and the Taskcluster web UI.

Pure URL building, shared by the status pages and the notifications; the base URLs come
from the settings (`[sources] treeherder_url`, `taskcluster_root_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

PRODUCTION_TREEHERDER = "https://treeherder.mozilla.org"
PRODUCTION_TASKCLUSTER = "https://firefox-ci-tc.services.mozilla.com"


@dataclass(frozen=True, slots=True)
class Links:
    treeherder_url: str = PRODUCTION_TREEHERDER
    taskcluster_root_url: str = PRODUCTION_TASKCLUSTER

    def push(self, repo: str, revision: str) -> str:
        """The push's jobs in Treeherder."""
        query = urlencode({"repo": repo, "revision": revision})
        return f"{self.treeherder_url.rstrip('/')}/jobs?{query}"

    def task_run(self, repo: str, revision: str, task_id: str, run: int = 0) -> str:
        """The push in Treeherder with one task's run selected (its log and artifacts)."""
        query = urlencode(
            {"repo": repo, "revision": revision, "selectedTaskRun": f"{task_id}-{run}"}
        )
        return f"{self.treeherder_url.rstrip('/')}/jobs?{query}"

    def task(self, task_id: str) -> str:
        return f"{self.taskcluster_root_url.rstrip('/')}/tasks/{quote(task_id, safe='')}"

    def task_log(self, task_id: str, run: int = 0) -> str:
        """The run's full log (Firefox CI test tasks publish it as live_backing.log)."""
        root = self.taskcluster_root_url.rstrip("/")
        return (
            f"{root}/api/queue/v1/task/{quote(task_id, safe='')}/runs/{run}"
            "/artifacts/public/logs/live_backing.log"
        )

    def task_group(self, task_group_id: str) -> str:
        root = self.taskcluster_root_url.rstrip("/")
        return f"{root}/tasks/groups/{quote(task_group_id, safe='')}"

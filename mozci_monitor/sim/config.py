"""Configuration of the simulated Firefox CI: every knob a scenario may turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from mozci_monitor.sim.testrun import JobTestModel

Outcome = Literal[
    "completed",
    "failed",
    "claim-expired",
    "worker-shutdown",
    "intermittent-task",
    "deadline-exceeded",
    "superseded",
    "internal-error",
    "malformed-payload",
    "resource-unavailable",
    "canceled",
]

OUTCOMES: Final[frozenset[str]] = frozenset(get_args(Outcome))

# The queue retries these automatically while retriesLeft > 0 (a new run is created).
AUTO_RETRIED: Final[frozenset[str]] = frozenset(
    {"claim-expired", "worker-shutdown", "intermittent-task"}
)


@dataclass(frozen=True)
class Regression:
    """A planted regression: `label` fails from push index `from_push` on.

    `rate` 1.0 (the default) is a permanent failure, the case backfill looks for; a lower
    rate is an intermittent that got worse at that push, the case bisection looks for.
    """

    label: str
    from_push: int
    rate: float = 1.0


@dataclass(frozen=True)
class ForcedOutcome:
    """Force the outcome of one run of every task with this label (optionally one push only)."""

    label: str
    outcome: Outcome
    run_id: int = 0
    push: int | None = None


@dataclass
class SimConfig:
    """Everything the simulator needs; defaults give a small, lively autoland.

    Times are CI seconds (the simulated clock); `time_scale` converts them to wall
    time when the simulator runs on its own (`auto_advance=True`).
    """

    seed: int = 1
    repo: str = "autoland"
    pushes: int = 30
    # Pushes already in the past (fully simulated, silently) when the simulator starts;
    # the remaining ones land one every `push_interval` CI seconds after start.
    history_pushes: int | None = None
    first_push_id: int = 160_000
    push_interval: float = 600.0

    broker_url: str | None = "memory://"
    host: str = "127.0.0.1"
    port: int = 0

    # Wall seconds that one CI hour lasts when auto-advancing (3.0: a push's jobs in seconds).
    time_scale: float = 3.0
    auto_advance: bool = True
    tick_seconds: float = 0.05

    # Task graph shape.
    platforms: tuple[str, ...] = (
        "linux1804-64/opt",
        "linux1804-64/debug",
        "windows11-64/opt",
        "macosx1015-64/opt",
    )
    suites: tuple[tuple[str, int], ...] = (
        ("mochitest-browser-chrome", 3),
        ("mochitest-plain", 2),
        ("xpcshell", 2),
        ("reftest", 2),
        ("web-platform-tests", 3),
        ("crashtest", 1),
    )
    # Fraction of the full task graph's test tasks a push schedules (rest: optimised away).
    scheduled_fraction: float = 0.7
    # (label, push index) pairs optimised away whatever the draw: pushes a backfill fills.
    optimised_away: tuple[tuple[str, int], ...] = ()

    # Durations (CI seconds): mean pending time, and run time ranges by kind.
    mean_pending: float = 60.0
    decision_runtime: tuple[float, float] = (120.0, 240.0)
    build_runtime: tuple[float, float] = (900.0, 1800.0)
    test_runtime: tuple[float, float] = (300.0, 1200.0)
    action_runtime: tuple[float, float] = (30.0, 90.0)

    # Outcome rates per run (tests and builds; the decision task always succeeds).
    intermittent_rate: float = 0.03
    label_failure_rates: dict[str, float] = field(default_factory=dict)
    claim_expired_rate: float = 0.01
    worker_shutdown_rate: float = 0.01
    superseded_rate: float = 0.0
    deadline_exceeded_rate: float = 0.0
    # Action tasks that fail although their input was good (a broken callback, a lost
    # decision artifact): nothing they were asked for is created.
    action_task_failure_rate: float = 0.0
    # Action tasks asked to act on these labels fail (a callback broken for them).
    failing_action_labels: tuple[str, ...] = ()
    # Pending tasks other users keep in a worker pool ("provisioner/worker-type"), beside
    # the simulated pushes' own: what makes a pool look saturated to `taskQueueCounts`.
    pool_backlog: dict[str, int] = field(default_factory=dict)
    # Callbacks the decision tasks do not offer (older pushes and other projects lack some).
    withheld_actions: tuple[str, ...] = ()
    retries: int = 5
    deadline_hours: float = 24.0

    regression: Regression | None = None
    regressions: tuple[Regression, ...] = ()  # more planted regressions, on other labels
    # Tests inside test jobs (errorsummary.log, Treeherder failure lines); None: jobs only.
    # A covered label's colour comes from its tests, not from the job-level rates above.
    tests: JobTestModel | None = None
    forced: tuple[ForcedOutcome, ...] = ()

    def __post_init__(self) -> None:
        if self.pushes < 1:
            raise ValueError("pushes must be >= 1")
        if self.history_pushes is not None and not 0 <= self.history_pushes <= self.pushes:
            raise ValueError("history_pushes must be within [0, pushes]")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        for forced in self.forced:
            if forced.outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {forced.outcome!r}")

    @property
    def effective_history_pushes(self) -> int:
        if self.history_pushes is not None:
            return self.history_pushes
        return max(self.pushes - 5, 0)

    @property
    def ci_seconds_per_wall_second(self) -> float:
        return 3600.0 / self.time_scale

"""What the end-to-end, sheriff, chaos, scale-out tests and the benchmarks share.

One way to build a daemon (`daemon`), one bounded polling wait (`waiting`), one recording
notification sink (`recording`), one simulated-CI clock (`clock`), the quiet simulated CI
the scenes start from (`ci`), the broker every scene runs over (`brokers`), one scene:
the simulator, a SQLite store and a daemon over them in the test's event loop (`scene`),
the edits the message fuzz tests make to a real message (`mutation`), the CLI run
as a separate process over a scene's settings (`cli_process`), and the made-up test
task's identity and routing key (`task_messages`).

It lives under tests/ because the daemon's own code must never import it, and the import
contracts over `mozci_monitor` only see that package. Tests import it as `support`
(tests/ is on sys.path through the rootdir conftest); the benchmarks, which run with the
repository root on sys.path, as `tests.support`. Modules here import one another
relatively, so both names work; only `brokers` and `scene` need the tests' own helpers.
"""

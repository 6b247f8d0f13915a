"""The narrow ports between the application (engine, actuator, reconciler, daemon) and the edges.

One module per edge: `ports.store` (what the engine, actuator, reconciler and API read and
write), `ports.pulse` (the consumer), `ports.sources` (Taskcluster, Treeherder, hg). Each
holds only Protocols and the plain data they exchange; the concrete implementations live in
the edge packages, and only the composition root (`mozci_monitor.wiring`) imports those.
"""

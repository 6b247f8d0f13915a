"""Tests of the pure core: model, message parsing, state machine."""

"""Replay: storm scenarios, the demo storm loaded at a moment, and whole-storm simulation of dispatch policies."""

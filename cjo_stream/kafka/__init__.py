"""Kafka IO shared by the worker, the adapters and the tools: topics, producers, batched output, reading.

One concept per module; nothing here knows about journeys, profiles or channels, so every room that
talks to Kafka (runtime, adapters, bench, CLI tools) uses the same plumbing.
"""

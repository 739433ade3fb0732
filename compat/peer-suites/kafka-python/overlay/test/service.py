"""Minimal stand-in for kafka-python's test/service.py (left out of the sdist), written for
gregor's compat/peer-suites.

Only ExternalService is needed: with KAFKA_URI set, the suite's KafkaFixture talks to an
already-running broker (ours, started by compat/peer-suites/kafka-python/run) and never spawns
one. SpawnedService exists so `from test.service import ExternalService, SpawnedService` imports;
it refuses to start anything.
"""

import logging

__all__ = ["ExternalService", "SpawnedService"]

log = logging.getLogger(__name__)


class ExternalService:
    """A broker somebody else started and will stop: every lifecycle call is a no-op."""

    def __init__(self, host, port):
        self.host = host
        self.port = port
        log.info("using the external broker at %s:%s", host, port)

    def open(self):
        pass

    def close(self):
        pass

    def start(self):
        pass

    def stop(self):
        pass

    def dump_logs(self):
        pass

    def wait_for(self, pattern, timeout=30):
        # The broker is ready before the suite runs; nothing to wait for.
        return True


class SpawnedService:
    """Not supported here: the peer-suite runner always supplies an external broker."""

    def __init__(self, args=None, env=None):
        raise RuntimeError(
            "compat/peer-suites: spawning brokers from the kafka-python suite is not supported; "
            "set KAFKA_URI to an external broker")

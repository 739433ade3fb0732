# Written for gregor's compat/peer-suites (not part of kafka-python's sdist, which leaves out
# test/__init__.py). Without this file Python's own `test` package would shadow kafka-python's
# tests. It also makes a Future whose callback raises fail loudly, as kafka-python's own test
# setup does, so the suite is no more lenient here than upstream.
import logging

logging.basicConfig(level=logging.INFO)

from kafka.future import Future  # noqa: E402

Future.error_on_callbacks = True

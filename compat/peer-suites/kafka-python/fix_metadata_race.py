"""Fixes a lost-update race in kafka-python 3.0.12's ClusterMetadata (kafka/cluster.py), in the
unpacked suite that compat/peer-suites/kafka-python/run tests with, idempotently.

The race: the I/O thread builds a Metadata request, then the main thread subscribes
(set_topics -> request_update sets _need_update); when the answer to the older request arrives,
update_metadata sets `_need_update = len(_retry_topics) > 0`, dropping the newer update, and the
client sleeps until its next refresh (300 s) with the subscribed topic unknown. Holding the I/O
thread at that point loses the subscription against Apache Kafka too (FINDINGS.md). The fix is the
Java client's: count update requests, and keep `_need_update` when one came after the request in
flight was built. Both brokers' runs use the fixed client.

Usage: fix_metadata_race.py <kafka_python source dir>; prints nothing when already applied.
"""

import sys

MARK = "# gregor peer-suites: metadata race fix"
EDITS = [
    (
        "            self._need_update = True\n            if not self._future or self._future.is_done:",
        "            self._need_update = True\n"
        f"            self._update_seq = getattr(self, '_update_seq', 0) + 1  {MARK}\n"
        "            if not self._future or self._future.is_done:",
    ),
    (
        "        try:\n            request = self.metadata_request()\n",
        f"        self._sent_seq = getattr(self, '_update_seq', 0)  {MARK}\n"
        "        try:\n            request = self.metadata_request()\n",
    ),
    (
        "            self._need_update = len(_retry_topics) > 0\n",
        "            sent, self._sent_seq = getattr(self, '_sent_seq', None), None\n"
        f"            stale = sent is not None and sent != getattr(self, '_update_seq', 0)  {MARK}\n"
        "            self._need_update = len(_retry_topics) > 0 or stale\n",
    ),
]


def main() -> int:
    path = f"{sys.argv[1]}/kafka/cluster.py"
    text = open(path).read()
    if MARK in text:
        return 0
    for old, new in EDITS:
        if text.count(old) != 1:
            print(f"fix_metadata_race: {path} does not hold the expected code: {old!r}", file=sys.stderr)
            return 1
        text = text.replace(old, new)
    open(path, "w").write(text)
    print(f"[peer-suites/kafka-python/setup] fixed the metadata race in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

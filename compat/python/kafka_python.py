#!/usr/bin/env python3
"""kafka-python (pure Python client) producer and consumer, one topic per compression_type.

KafkaProducer (acks='all', idempotence on, compression_type None/gzip/snappy/lz4/zstd) sends the
shared record mix (binary, empty and null values, null keys, headers, timestamps, ~100 KB values);
KafkaConsumer without group_id, assign() + seek_to_beginning(), reads it back. Same checks as the
confluent scenario; the partition of a key must match the Java client's murmur2 partitioner.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CODECS, CompatFailure, check, java_partition, make_records, verify_readback  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

PARTITIONS = 3


def produce(b, topic, codec, records):
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", enable_idempotence=True,
                      compression_type=None if codec == "none" else codec, linger_ms=5,
                      max_request_size=2 * 1024 * 1024)
    try:
        futs = [(rec["i"], p.send(topic, key=rec["key"], value=rec["value"], headers=rec["headers"],
                                  timestamp_ms=rec["ts"])) for rec in records]
        p.flush(timeout=60)
        acks = {}
        for i, f in futs:
            md = f.get(timeout=60)
            acks[i] = (md.partition, md.offset)
        return acks
    finally:
        p.close(timeout=10)


def consume(b, topic, expected_count, deadline_s=60):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      fetch_max_wait_ms=100, consumer_timeout_ms=1000)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(PARTITIONS)}
        n = 0
        end = time.monotonic() + deadline_s
        while n < expected_count:
            if time.monotonic() > end:
                raise CompatFailure(f"{topic}: read {n} of {expected_count} records in {deadline_s}s")
            batch = c.poll(timeout_ms=500, max_records=1000)
            for tp, msgs in batch.items():
                for m in msgs:
                    check(m.timestamp_type == 0, f"{topic}: timestamp type {m.timestamp_type}, want CreateTime")
                    got[tp.partition].append((m.offset, m.key, m.value, list(m.headers or []), m.timestamp))
                    n += 1
        extra = c.poll(timeout_ms=500)
        check(not any(extra.values()), f"{topic}: more records than produced")
        return got
    finally:
        c.close()


def body(b: harness.Broker) -> None:
    for codec in CODECS:
        b.create_topic(f"kafkapy-{codec}", PARTITIONS)
    for codec in CODECS:
        topic = f"kafkapy-{codec}"
        records = make_records(topic)
        t0 = time.monotonic()
        acks = produce(b, topic, codec, records)
        got = consume(b, topic, len(records))
        verify_readback(topic, records, acks, got, PARTITIONS,
                        key_partition=lambda k: java_partition(k, PARTITIONS))
        print(f"  {topic}: {len(records)} records ok ({time.monotonic() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    harness.main(body)

#!/usr/bin/env python3
"""confluent-kafka-python (librdkafka) producer and consumer, one topic per compression.type.

Producer: acks=all, enable.idempotence=true; keyed records with binary, empty and null values,
null keys, headers, create timestamps, ~100 KB values. Consumer: assign() every partition at
OFFSET_BEGINNING, no consumer group, no commits. Every acknowledged (partition, offset) holds
exactly the record produced, offsets are dense from 0, a key stays in one partition
(librdkafka's consistent_random: CRC32(key) % partitions).
"""

import os
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402
from harness import CODECS, CompatFailure, check, make_records, verify_readback  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING  # noqa: E402

PARTITIONS = 3


def produce(b, topic, codec, records):
    acks, errors = {}, []
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True,
                  "compression.type": codec, "linger.ms": 5, "message.timeout.ms": 60000})

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                acks[i] = (msg.partition(), msg.offset())
        return cb

    for rec in records:
        while True:
            try:
                p.produce(topic, key=rec["key"], value=rec["value"], headers=rec["headers"] or None,
                          timestamp=rec["ts"], on_delivery=report(rec["i"]))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    check(left == 0, f"{topic}: {left} messages still undelivered after flush(60)")
    check(not errors, f"{topic}: delivery errors: {errors[:5]}")
    return acks


def consume(b, topic, expected_count, deadline_s=60):
    # confluent-kafka insists on a group.id; with assign() and no commits it is never used for a group.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
                  "enable.auto.offset.store": False,
                  "enable.partition.eof": False, "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got = {p: [] for p in range(PARTITIONS)}
        n = 0
        end = time.monotonic() + deadline_s
        while n < expected_count:
            if time.monotonic() > end:
                raise CompatFailure(f"{topic}: read {n} of {expected_count} records in {deadline_s}s")
            for m in c.consume(500, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise CompatFailure(f"{topic}: consumer error {m.error()}")
                ts_type, ts = m.timestamp()
                got[m.partition()].append((m.offset(), m.key(), m.value(), m.headers() or [], ts))
                n += 1
        # nothing beyond the expected records
        extra = c.consume(10, timeout=0.5)
        check(not [m for m in extra if not m.error()], f"{topic}: more records than produced")
        return got
    finally:
        c.close()


def body(b: harness.Broker) -> None:
    for codec in CODECS:
        b.create_topic(f"confluent-{codec}", PARTITIONS)
    for codec in CODECS:
        topic = f"confluent-{codec}"
        records = make_records(topic)
        t0 = time.monotonic()
        acks = produce(b, topic, codec, records)
        got = consume(b, topic, len(records))
        verify_readback(topic, records, acks, got, PARTITIONS,
                        key_partition=lambda k: zlib.crc32(k) % PARTITIONS)
        print(f"  {topic}: {len(records)} records ok ({time.monotonic() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    harness.main(body)

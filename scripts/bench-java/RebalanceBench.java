// Group benchmarks for scripts/bench.py, with the Kafka 4.3.1 Java client. Compiled on demand by
// bench.py (javac against kafka-4.3.1/libs/*) into ~/.cache/gregor/bench-java/<hash of source>/.
//
//   java -cp CLASSES:LIBS/* RebalanceBench rebalance BOOTSTRAP TOPIC PARTITIONS GROUP MEMBERS ROUNDS SETTLE_MS
//        TIMEOUT_MS key=value...
//     One JVM, one KafkaConsumer (and thread) per member, all subscribed to TOPIC in GROUP with the
//     given consumer properties (group.protocol, partition.assignment.strategy, ...). Forms a group
//     of MEMBERS-1, then ROUNDS times: (join) one more member subscribes, (leave) one member closes
//     (LeaveGroup). Each phase is timed from the trigger until the members' rebalance callbacks
//     (onPartitionsAssigned/Revoked/Lost) show every live member owning a share of PARTITIONS, all
//     partitions owned exactly once and the shares balanced (sizes differ by at most one); that
//     state must then hold for SETTLE_MS (a later change restarts the clock).
//   java ... RebalanceBench commit BOOTSTRAP TOPIC GROUP PRODUCE_TOPIC SECONDS N1,N2,.. key=value...
//     commitSync of N offsets (partitions 0..N-1 of TOPIC, assign(), group GROUP) back to back for
//     SECONDS after a 1 s warm-up; then the same with a producer (acks=all): N records in one batch
//     (send N, flush) to partition 0 of PRODUCE_TOPIC, each record the size of an offset-commit
//     record in __consumer_offsets (key: version, group, topic, partition; value v3).
//
// stdout, one JSON object a line: {"ev":"formed"|"join"|"leave","ms":..}, {"ev":"timeout",..},
// {"ev":"commit"|"produce","n":N,"ops":..,"secs":..,"p50_us":..,"p99_us":..,"mean_us":..}, {"ev":"error",..}.
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class RebalanceBench {
    static final Object LOCK = new Object();
    static int partitions;
    static final Map<Integer, Set<Integer>> owned = new HashMap<>();
    static final Set<Integer> active = new TreeSet<>();
    static long lastChange = System.nanoTime();
    static long doneAt = -1;
    static final AtomicInteger errors = new AtomicInteger();

    static synchronized void emit(String json) {
        System.out.println(json);
        System.out.flush();
    }

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : String.valueOf(s).toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    // ------------------------------------------------------------------ rebalance
    /** Every live member owns a share, each partition exactly once, shares balanced. Holds LOCK. */
    static boolean complete() {
        int total = 0, min = Integer.MAX_VALUE, max = 0;
        BitSet seen = new BitSet(partitions);
        for (int m : active) {
            Set<Integer> s = owned.getOrDefault(m, Set.of());
            total += s.size();
            min = Math.min(min, s.size());
            max = Math.max(max, s.size());
            for (int p : s) seen.set(p);
        }
        return !active.isEmpty() && total == partitions && seen.cardinality() == partitions && max - min <= 1;
    }

    static String stateSummary() {
        int total = 0, empty = 0, min = Integer.MAX_VALUE, max = 0;
        BitSet seen = new BitSet(partitions);
        for (int m : active) {
            Set<Integer> s = owned.getOrDefault(m, Set.of());
            total += s.size();
            if (s.isEmpty()) empty++;
            min = Math.min(min, s.size());
            max = Math.max(max, s.size());
            for (int p : s) seen.set(p);
        }
        return "\"members\":" + active.size() + ",\"owned_total\":" + total + ",\"distinct\":" + seen.cardinality()
                + ",\"empty_members\":" + empty + ",\"min\":" + min + ",\"max\":" + max;
    }

    static void evaluate(long now) {
        if (complete()) {
            if (doneAt < 0) doneAt = now;
        } else {
            doneAt = -1;
        }
    }

    static void changed(int m, Collection<TopicPartition> add, Collection<TopicPartition> remove) {
        long now = System.nanoTime();
        synchronized (LOCK) {
            Set<Integer> s = owned.computeIfAbsent(m, k -> new HashSet<>());
            if (remove != null) for (TopicPartition tp : remove) s.remove(tp.partition());
            if (add != null) for (TopicPartition tp : add) s.add(tp.partition());
            if (active.contains(m)) {
                lastChange = now;
                evaluate(now);
            }
            LOCK.notifyAll();
        }
    }

    /** Waits until complete() has held for settleMs; returns the time it became true, or -1. */
    static long waitComplete(long t0, long settleMs, long timeoutMs) throws InterruptedException {
        long deadline = t0 + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        long settle = TimeUnit.MILLISECONDS.toNanos(settleMs);
        synchronized (LOCK) {
            while (true) {
                long now = System.nanoTime();
                if (doneAt >= 0 && now - lastChange >= settle && now - doneAt >= settle) return doneAt;
                if (now > deadline) return -1;
                LOCK.wait(20);
            }
        }
    }

    static final class Member implements Runnable {
        final int idx;
        final KafkaConsumer<byte[], byte[]> consumer;
        final String topic;
        volatile boolean stop = false;
        final Thread thread;

        Member(int idx, String topic, Properties base) {
            this.idx = idx;
            this.topic = topic;
            Properties p = new Properties();
            p.putAll(base);
            p.put("client.id", "bench-m" + idx);
            consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            thread = new Thread(this, "member-" + idx);
            thread.setDaemon(true);
        }

        public void run() {
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) { changed(idx, null, parts); }
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) { changed(idx, parts, null); }
                    public void onPartitionsLost(Collection<TopicPartition> parts) { changed(idx, null, parts); }
                });
                while (!stop) {
                    try {
                        consumer.poll(Duration.ofMillis(100));
                    } catch (WakeupException e) {
                        // stop requested
                    } catch (org.apache.kafka.common.KafkaException e) {
                        if (errors.incrementAndGet() <= 20)
                            emit("{\"ev\":\"error\",\"member\":" + idx + ",\"err\":" + q(e.toString()) + "}");
                        Thread.sleep(100);
                    }
                }
            } catch (Exception e) {
                emit("{\"ev\":\"error\",\"member\":" + idx + ",\"err\":" + q(e.toString()) + "}");
            } finally {
                try {
                    consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)));
                } catch (Exception e) {
                    emit("{\"ev\":\"error\",\"member\":" + idx + ",\"close\":" + q(e.toString()) + "}");
                }
            }
        }

        void requestStop() {
            stop = true;
            consumer.wakeup();
        }
    }

    static double ms(long nanos) {
        return Math.round(nanos / 1e4) / 100.0;
    }

    static void rebalance(String[] args) throws Exception {
        String bootstrap = args[1], topic = args[2];
        partitions = Integer.parseInt(args[3]);
        String group = args[4];
        int members = Integer.parseInt(args[5]), rounds = Integer.parseInt(args[6]);
        long settleMs = Long.parseLong(args[7]), timeoutMs = Long.parseLong(args[8]);
        Properties base = new Properties();
        base.put("bootstrap.servers", bootstrap);
        base.put("group.id", group);
        base.put("enable.auto.commit", "false");
        base.put("auto.offset.reset", "latest");
        for (int i = 9; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            base.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Map<Integer, Member> live = new TreeMap<>();
        int next = 0;

        // Form the group of members-1 (not a headline figure: every start is a rebalance).
        long t0 = System.nanoTime();
        List<Member> first = new ArrayList<>();
        for (int i = 0; i < members - 1; i++) first.add(new Member(next++, topic, base));
        synchronized (LOCK) {
            for (Member m : first) active.add(m.idx);
            evaluate(System.nanoTime());
        }
        for (Member m : first) {
            live.put(m.idx, m);
            m.thread.start();
        }
        long done = waitComplete(t0, settleMs, Math.max(timeoutMs, 180_000));
        if (done < 0) {
            synchronized (LOCK) { emit("{\"ev\":\"timeout\",\"phase\":\"form\"," + stateSummary() + "}"); }
            shutdown(live);
            return;
        }
        emit("{\"ev\":\"formed\",\"ms\":" + ms(done - t0) + ",\"members\":" + (members - 1) + "}");

        for (int r = 0; r < rounds; r++) {
            // join: one more member (constructed before the clock starts; its first poll joins)
            Member m = new Member(next++, topic, base);
            t0 = System.nanoTime();
            synchronized (LOCK) {
                active.add(m.idx);
                evaluate(t0);
            }
            live.put(m.idx, m);
            m.thread.start();
            done = waitComplete(t0, settleMs, timeoutMs);
            if (done < 0) {
                synchronized (LOCK) { emit("{\"ev\":\"timeout\",\"phase\":\"join\",\"round\":" + r + "," + stateSummary() + "}"); }
                break;
            }
            emit("{\"ev\":\"join\",\"round\":" + r + ",\"ms\":" + ms(done - t0) + ",\"members\":" + live.size() + "}");

            // leave: the member in the middle of the live list closes (LeaveGroup)
            List<Integer> ids = new ArrayList<>(live.keySet());
            Member victim = live.remove(ids.get(ids.size() / 2));
            t0 = System.nanoTime();
            synchronized (LOCK) {
                active.remove(victim.idx);
                evaluate(t0);
            }
            victim.requestStop();
            done = waitComplete(t0, settleMs, timeoutMs);
            if (done < 0) {
                synchronized (LOCK) { emit("{\"ev\":\"timeout\",\"phase\":\"leave\",\"round\":" + r + "," + stateSummary() + "}"); }
                break;
            }
            emit("{\"ev\":\"leave\",\"round\":" + r + ",\"ms\":" + ms(done - t0) + ",\"members\":" + live.size() + "}");
        }
        shutdown(live);
    }

    static void shutdown(Map<Integer, Member> live) throws InterruptedException {
        for (Member m : live.values()) m.requestStop();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        for (Member m : live.values())
            m.thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime())));
    }

    // ------------------------------------------------------------------ commit vs produce
    static long pct(long[] sorted, double q) {
        int k = (int) Math.ceil(q / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, k))];
    }

    static void report(String ev, int n, List<Long> lat, double secs) {
        long[] v = lat.stream().mapToLong(Long::longValue).sorted().toArray();
        double mean = Arrays.stream(v).average().orElse(0);
        emit("{\"ev\":\"" + ev + "\",\"n\":" + n + ",\"ops\":" + v.length + ",\"secs\":" + secs
                + ",\"p50_us\":" + (v.length > 0 ? pct(v, 50) : 0) + ",\"p99_us\":" + (v.length > 0 ? pct(v, 99) : 0)
                + ",\"max_us\":" + (v.length > 0 ? v[v.length - 1] : 0) + ",\"mean_us\":" + mean + "}");
    }

    static void commit(String[] args) throws Exception {
        String bootstrap = args[1], topic = args[2], group = args[3], produceTopic = args[4];
        double seconds = Double.parseDouble(args[5]);
        int[] ns = Arrays.stream(args[6].split(",")).mapToInt(Integer::parseInt).toArray();
        Properties extra = new Properties();
        for (int i = 7; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            extra.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        long warmNanos = TimeUnit.MILLISECONDS.toNanos(1000), runNanos = (long) (seconds * 1e9);

        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("group.id", group);
        cp.put("enable.auto.commit", "false");
        cp.putAll(extra);
        long offset = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            for (int n : ns) {
                List<TopicPartition> tps = new ArrayList<>();
                for (int p = 0; p < n; p++) tps.add(new TopicPartition(topic, p));
                c.assign(tps);
                List<Long> lat = new ArrayList<>();
                long start = System.nanoTime(), measureFrom = start + warmNanos, t1 = start;
                while (t1 - measureFrom < runNanos) {
                    Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                    offset++;
                    for (TopicPartition tp : tps) offs.put(tp, new OffsetAndMetadata(offset));
                    long t = System.nanoTime();
                    c.commitSync(offs, Duration.ofSeconds(30));
                    t1 = System.nanoTime();
                    if (t >= measureFrom) lat.add((t1 - t) / 1000);
                }
                report("commit", n, lat, (t1 - measureFrom) / 1e9);
            }
        }

        // Offset-commit record sizes (key v1: version, group, topic, partition; value v3: version,
        // offset, leader epoch, metadata "", commit timestamp).
        int keySize = 2 + 2 + group.getBytes(StandardCharsets.UTF_8).length + 2
                + topic.getBytes(StandardCharsets.UTF_8).length + 4;
        int valueSize = 2 + 8 + 4 + 2 + 8;
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("acks", "all");
        pp.put("linger.ms", "1000");  // flush() sends at once; the N records go out as one batch
        pp.put("batch.size", "4194304");
        pp.put("max.request.size", "8388608");
        pp.putAll(extra);
        byte[] key = new byte[keySize], value = new byte[valueSize];
        new Random(1).nextBytes(key);
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int n : ns) {
                List<Long> lat = new ArrayList<>();
                long start = System.nanoTime(), measureFrom = start + warmNanos, t1 = start;
                while (t1 - measureFrom < runNanos) {
                    long t = System.nanoTime();
                    List<Future<RecordMetadata>> fs = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) fs.add(pr.send(new ProducerRecord<>(produceTopic, 0, key, value)));
                    pr.flush();
                    for (Future<RecordMetadata> f : fs) f.get();
                    t1 = System.nanoTime();
                    if (t >= measureFrom) lat.add((t1 - t) / 1000);
                }
                report("produce", n, lat, (t1 - measureFrom) / 1e9);
            }
        }
        emit("{\"ev\":\"sizes\",\"key\":" + keySize + ",\"value\":" + valueSize + "}");
    }

    public static void main(String[] args) throws Exception {
        int rc = 0;
        try {
            switch (args[0]) {
                case "rebalance": rebalance(args); break;
                case "commit": commit(args); break;
                default: throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (Exception e) {
            emit("{\"ev\":\"error\",\"err\":" + q(e.toString()) + "}");
            rc = 1;
        }
        System.out.flush();
        Runtime.getRuntime().halt(rc);
    }
}

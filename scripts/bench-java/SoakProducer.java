// Soak producer for scripts/bench.py, with the Kafka 4.3.1 Java client. Compiled on demand by
// bench.py (javac against kafka-4.3.1/libs/*) into ~/.cache/gregor/bench-java/<hash of source>/.
//
//   java -cp CLASSES:LIBS/* SoakProducer BOOTSTRAP SECONDS WARMUP_S INTERVAL_MS RET_TOPICS COMPACT_TOPIC KEYS
//        VALUE_SIZE RATE key=value...
//
// One KafkaProducer writes for SECONDS, round-robin, to each topic of RET_TOPICS (comma-separated;
// records without key) and to COMPACT_TOPIC (keys "k00000".."k<KEYS-1>", uniformly random), values
// of VALUE_SIZE random bytes; as fast as the producer goes (RATE 0) or RATE records/s in all.
// Latency of a record: send() -> its completion callback. The thirds leave out the first WARMUP_S
// seconds (connections, JIT) and split the rest by time.
//
// stdout, one JSON object a line:
//   {"ev":"iv","t":S,"recs":N,"bytes":B,"p50_us":..,"p99_us":..,"max_us":..,"errs":E}  every INTERVAL_MS,
//       for the records completed in that interval (t = seconds since the start, end of the interval)
//   {"ev":"third","i":0|1|2 (after the warm-up),"recs":..,"bytes":..,"secs":..,"p50_us":..,"p99_us":..}  at the end
//   {"ev":"done","sent":..,"acked":..,"errs":..,"first_err":".."}
import java.time.Duration;
import java.util.*;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class SoakProducer {
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

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        double seconds = Double.parseDouble(args[1]);
        double warmup = Double.parseDouble(args[2]);
        long intervalMs = Long.parseLong(args[3]);
        String[] retTopics = args[4].isEmpty() ? new String[0] : args[4].split(",");
        String compactTopic = args[5];
        int keys = Integer.parseInt(args[6]), valueSize = Integer.parseInt(args[7]);
        double rate = Double.parseDouble(args[8]);
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("acks", "all");
        pp.put("linger.ms", "5");
        pp.put("batch.size", "65536");
        pp.put("buffer.memory", "2097152");  // bounds the queueing part of the latency
        pp.put("compression.type", "none");
        for (int i = 9; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            pp.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        Random rnd = new Random(42);
        byte[][] values = new byte[512][valueSize];
        for (byte[] v : values) rnd.nextBytes(v);
        byte[][] keyBytes = new byte[keys][];
        for (int k = 0; k < keys; k++) keyBytes[k] = String.format("k%05d", k).getBytes();
        String[] topics = new String[retTopics.length + (compactTopic.isEmpty() ? 0 : 1)];
        System.arraycopy(retTopics, 0, topics, 0, retTopics.length);
        if (!compactTopic.isEmpty()) topics[topics.length - 1] = compactTopic;

        Recorder recorder = new Recorder(3);
        AtomicLong ivRecs = new AtomicLong(), ivBytes = new AtomicLong(), ivErrs = new AtomicLong();
        AtomicLong acked = new AtomicLong(), errs = new AtomicLong();
        AtomicReference<String> firstErr = new AtomicReference<>();
        Histogram[] thirdH = new Histogram[3];
        long[] thirdRecs = new long[3], thirdBytes = new long[3];
        double[] thirdSecs = new double[3];
        for (int i = 0; i < 3; i++) thirdH[i] = new Histogram(3);

        long start = System.nanoTime();
        long runNanos = (long) (seconds * 1e9);
        Thread reporter = new Thread(() -> {
            Histogram h = null;
            long next = start + TimeUnit.MILLISECONDS.toNanos(intervalMs), prev = start;
            boolean last = false;
            while (!last) {
                long now = System.nanoTime();
                if (now < next) {
                    try {
                        Thread.sleep(Math.max(1, TimeUnit.NANOSECONDS.toMillis(next - now)));
                    } catch (InterruptedException e) {
                        last = true;  // final interval after the producer is flushed
                    }
                    if (!last) continue;
                }
                now = System.nanoTime();
                h = recorder.getIntervalHistogram(h);
                long r = ivRecs.getAndSet(0), b = ivBytes.getAndSet(0), e = ivErrs.getAndSet(0);
                double t = (now - start) / 1e9;
                double mid = ((prev + now) / 2.0 - start) / 1e9;
                if (mid >= warmup) {
                    int third = (int) Math.min(2, Math.floor((mid - warmup) / ((seconds - warmup) / 3)));
                    thirdH[third].add(h);
                    thirdRecs[third] += r;
                    thirdBytes[third] += b;
                    thirdSecs[third] += (now - prev) / 1e9;
                }
                emit(String.format(Locale.ROOT,
                        "{\"ev\":\"iv\",\"t\":%.3f,\"secs\":%.3f,\"recs\":%d,\"bytes\":%d,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d,\"errs\":%d}",
                        t, (now - prev) / 1e9, r, b, h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getMaxValue(), e));
                prev = now;
                next += TimeUnit.MILLISECONDS.toNanos(intervalMs);
            }
        }, "reporter");
        reporter.start();

        long sent = 0;
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            while (true) {
                long now = System.nanoTime();
                if (now - start >= runNanos) break;
                if (rate > 0) {
                    long due = start + (long) (sent * 1e9 / rate);
                    if (due > now) {
                        long sl = due - now;
                        Thread.sleep(sl / 1_000_000, (int) (sl % 1_000_000));
                    }
                }
                String topic = topics[(int) (sent % topics.length)];
                byte[] key = topic.equals(compactTopic) ? keyBytes[rnd.nextInt(keys)] : null;
                byte[] value = values[(int) (sent % values.length)];
                int size = value.length + (key == null ? 0 : key.length);
                long t0 = System.nanoTime();
                pr.send(new ProducerRecord<>(topic, key, value), (md, ex) -> {
                    long us = (System.nanoTime() - t0) / 1000;
                    if (ex != null) {
                        errs.incrementAndGet();
                        ivErrs.incrementAndGet();
                        firstErr.compareAndSet(null, ex.toString());
                        return;
                    }
                    recorder.recordValue(Math.max(1, us));
                    ivRecs.incrementAndGet();
                    ivBytes.addAndGet(size);
                    acked.incrementAndGet();
                });
                sent++;
            }
            pr.flush();
        } catch (Exception e) {
            firstErr.compareAndSet(null, e.toString());
            errs.incrementAndGet();
        }
        reporter.interrupt();
        reporter.join();
        for (int i = 0; i < 3; i++) {
            emit(String.format(Locale.ROOT,
                    "{\"ev\":\"third\",\"i\":%d,\"recs\":%d,\"bytes\":%d,\"secs\":%.3f,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d}",
                    i, thirdRecs[i], thirdBytes[i], thirdSecs[i], thirdH[i].getValueAtPercentile(50),
                    thirdH[i].getValueAtPercentile(99), thirdH[i].getMaxValue()));
        }
        emit("{\"ev\":\"done\",\"sent\":" + sent + ",\"acked\":" + acked.get() + ",\"errs\":" + errs.get()
                + ",\"first_err\":" + q(firstErr.get()) + "}");
        System.out.flush();
        Runtime.getRuntime().halt(errs.get() > 0 ? 1 : 0);
    }
}

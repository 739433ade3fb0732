// A Kafka Streams 4.3.1 application with processing.guarantee=exactly_once_v2, for
// compat/java/streams_eos.py. Compiled on demand by that scenario (javac against
// kafka-streams-4.3.1/libs/*) into ~/.cache/gregor/compat-java/<hash>/.
//
//   StreamsEosApp BOOTSTRAP IN OUT APP_ID STATE_DIR THREADS SLEEP_EVERY
//
// Topology: IN (keys "s<n>", values "<group>:<number>") -> groupBy(value's group), which
// goes through the repartition topic APP_ID-regroup-repartition -> aggregate into the state
// store "agg" (no caching, so every update is forwarded; changelog topic
// APP_ID-agg-changelog, compacted) -> OUT, key = group, value = "count,sum,number" (the
// aggregate after adding number). The first sub-topology sleeps 1 ms every SLEEP_EVERY records
// so that a run lasts long enough to be killed while processing.
//
// Prints one JSON object a line on stdout: {"ev":"state","from":..,"to":..} on every state
// change of the KafkaStreams client, {"ev":"agg","n":N} every 100 aggregations (counted in this
// process, aborted work included), {"ev":"error","err":..} when a stream thread dies (the client
// then shuts down and the process exits 1). SIGTERM closes the client (committing) and exits 0.
import java.time.Duration;
import java.util.Properties;
import java.util.StringJoiner;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

public class StreamsEosApp {
    static volatile boolean stopping = false;

    static synchronized void emit(String json) {
        System.out.println(json);
        System.out.flush();
    }

    static String q(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    /** The exception chain as "Class: message <- Class: message". */
    static String chain(Throwable e) {
        StringJoiner j = new StringJoiner(" <- ");
        for (Throwable t = e; t != null && j.length() < 3000; t = t.getCause())
            j.add(t.getClass().getName() + ": " + t.getMessage());
        return j.toString();
    }

    public static void main(String[] a) throws Exception {
        String bootstrap = a[0], in = a[1], out = a[2], appId = a[3], stateDir = a[4];
        int threads = Integer.parseInt(a[5]);
        final int sleepEvery = Integer.parseInt(a[6]);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, String.valueOf(threads));
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, "0");
        // Transactions of ~0.5 s whose records reach the log within ~10 ms, so that a SIGKILL
        // nearly always leaves an open transaction with records in the log behind.
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "500");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "10");
        p.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, "classic");
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.String().getClass().getName());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.String().getClass().getName());
        // A SIGKILLed instance leaves the group after this, so its successor gets the tasks soon.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), "6000");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), "1000");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        final AtomicLong aggs = new AtomicLong();
        final AtomicLong seen = new AtomicLong();
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
            .peek((k, v) -> {
                if (sleepEvery > 0 && seen.incrementAndGet() % sleepEvery == 0) {
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            })
            .groupBy((k, v) -> v.substring(0, v.indexOf(':')), Grouped.with("regroup", Serdes.String(), Serdes.String()))
            .aggregate(
                () -> "0,0,0",
                (key, v, agg) -> {
                    String[] f = agg.split(",");
                    long n = Long.parseLong(v.substring(v.indexOf(':') + 1));
                    long count = Long.parseLong(f[0]) + 1, sum = Long.parseLong(f[1]) + n;
                    long done = aggs.incrementAndGet();
                    if (done % 100 == 0) emit("{\"ev\":\"agg\",\"n\":" + done + "}");
                    return count + "," + sum + "," + n;
                },
                Materialized.<String, String, KeyValueStore<Bytes, byte[]>>as("agg")
                    .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()).withCachingDisabled())
            .toStream()
            .to(out, Produced.with(Serdes.String(), Serdes.String()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        final CountDownLatch dead = new CountDownLatch(1);
        final int[] rc = {0};
        streams.setStateListener((to, from) -> {
            emit("{\"ev\":\"state\",\"from\":" + q(from.toString()) + ",\"to\":" + q(to.toString()) + "}");
            if (to == KafkaStreams.State.ERROR || to == KafkaStreams.State.NOT_RUNNING) dead.countDown();
        });
        streams.setUncaughtExceptionHandler(e -> {
            emit("{\"ev\":\"error\",\"err\":" + q(chain(e)) + "}");
            e.printStackTrace();
            rc[0] = 1;
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            boolean closed = streams.close(Duration.ofSeconds(30));
            emit("{\"ev\":\"closed\",\"clean\":" + closed + "}");
        }));
        streams.start();
        dead.await();
        if (stopping) return;  // SIGTERM: the shutdown hook closes the client
        streams.close(Duration.ofSeconds(30));
        System.exit(rc[0] == 0 ? 2 : 1);  // the client stopped by itself: never what the scenario wants
    }
}

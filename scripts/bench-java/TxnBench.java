// Transactional producer benchmark for scripts/bench.py, with the Kafka 4.3.1 Java client. Compiled on
// demand by bench.py (javac against kafka-4.3.1/libs/*) into ~/.cache/gregor/bench-java/<hash of source>/.
//
//   java -cp CLASSES:LIBS/* TxnBench BOOTSTRAP TOPIC TXNS RECORDS_PER_TXN VALUE_SIZE WARMUP_TXNS key=value...
//
// One KafkaProducer (transactional.id "bench-txn", acks=all, enable.idempotence=true; key=value pairs
// override producer properties) calls initTransactions(), then runs WARMUP_TXNS + TXNS transactions
// back to back, each: beginTransaction(), RECORDS_PER_TXN send()s of VALUE_SIZE random bytes without
// key (the sticky partitioner spreads a transaction's batches over the topic's partitions),
// commitTransaction(). Commit latency = the commitTransaction() call (flushes what is still unsent,
// then EndTxn and waits for the markers); transaction latency = beginTransaction() to commit returned.
// The first WARMUP_TXNS transactions (connections, JIT) are not counted.
//
// stdout, one JSON object a line:
//   {"ev":"init","ms":..}                         initTransactions() (FindCoordinator + InitProducerId)
//   {"ev":"done","txns":N,"records":..,"bytes":..,"secs":..,"commit_p50_us":..,"commit_p99_us":..,
//    "commit_max_us":..,"txn_p50_us":..,"txn_p99_us":..,"errs":E,"first_err":".."}
//   {"ev":"error","msg":".."}                     a failed transaction / the run aborted
import java.util.*;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TxnBench {
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

    static long pct(long[] sorted, double q) {
        if (sorted.length == 0) return 0;
        int k = (int) Math.ceil(q / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, k))];
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int txns = Integer.parseInt(args[2]), perTxn = Integer.parseInt(args[3]);
        int valueSize = Integer.parseInt(args[4]), warmup = Integer.parseInt(args[5]);
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("acks", "all");
        pp.put("enable.idempotence", "true");
        pp.put("transactional.id", "bench-txn");
        pp.put("compression.type", "none");
        for (int i = 6; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            pp.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        Random rnd = new Random(42);
        byte[][] values = new byte[512][valueSize];
        for (byte[] v : values) rnd.nextBytes(v);

        AtomicLong errs = new AtomicLong();
        AtomicReference<String> firstErr = new AtomicReference<>();
        Callback cb = (md, e) -> {
            if (e != null) {
                errs.incrementAndGet();
                firstErr.compareAndSet(null, e.toString());
            }
        };
        long[] commitNs = new long[txns], txnNs = new long[txns];
        int vi = 0;
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            long t = System.nanoTime();
            p.initTransactions();
            emit("{\"ev\":\"init\",\"ms\":" + (System.nanoTime() - t) / 1e6 + "}");
            long start = 0;
            for (int i = -warmup; i < txns; i++) {
                if (i == 0) start = System.nanoTime();
                long t0 = System.nanoTime();
                p.beginTransaction();
                for (int r = 0; r < perTxn; r++) {
                    p.send(new ProducerRecord<>(topic, null, values[vi++ & 511]), cb);
                }
                long tc = System.nanoTime();
                p.commitTransaction();
                long t1 = System.nanoTime();
                if (i >= 0) {
                    commitNs[i] = t1 - tc;
                    txnNs[i] = t1 - t0;
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            Arrays.sort(commitNs);
            Arrays.sort(txnNs);
            long records = (long) txns * perTxn;
            emit("{\"ev\":\"done\",\"txns\":" + txns + ",\"records\":" + records + ",\"bytes\":" + records * valueSize
                    + ",\"secs\":" + secs
                    + ",\"commit_p50_us\":" + pct(commitNs, 50) / 1000 + ",\"commit_p99_us\":" + pct(commitNs, 99) / 1000
                    + ",\"commit_max_us\":" + (txns > 0 ? commitNs[txns - 1] / 1000 : 0)
                    + ",\"txn_p50_us\":" + pct(txnNs, 50) / 1000 + ",\"txn_p99_us\":" + pct(txnNs, 99) / 1000
                    + ",\"errs\":" + errs.get() + ",\"first_err\":" + q(firstErr.get()) + "}");
        } catch (Exception e) {
            emit("{\"ev\":\"error\",\"msg\":" + q(e.toString()) + "}");
            e.printStackTrace();
            System.exit(1);
        }
    }
}

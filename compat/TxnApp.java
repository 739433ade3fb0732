// Transactions with the Kafka 4.3.1 Java client, for compat/java/transactions.py. Compiled on
// demand by groupkit.java_classes (javac against kafka-4.3.1/libs/*) into
// ~/.cache/gregor/compat-java/<hash>/. Every mode prints one JSON object a line on stdout and
// exits 0, or prints {"ev":"error",...} and exits 1.
//
//   TxnApp produce BOOTSTRAP TOPIC TXID TXNS PER_TXN
//       a transactional producer (acks=all): TXNS transactions of PER_TXN keyed records, even
//       ones committed, odd ones aborted after a flush (so their records reach the log);
//       {"ev":"txn","t":T,"commit":true|false,"recs":[[partition,offset,"value"],..]} per transaction.
//       Then fencing: a second producer with the same TXID calls initTransactions, and the first
//       one's next transaction must fail: {"ev":"fenced","send":"..","commit":"..","second":".."}.
//   TxnApp read BOOTSTRAP TOPIC PARTITIONS ISOLATION
//       assign() all partitions (no group), seekToBeginning, poll until every position reaches
//       endOffsets (the last stable offset under read_committed), then once more for 1 s;
//       {"ev":"recs","recs":[[partition,offset,"value"],..]} per non-empty poll, {"ev":"end","ends":[..],"pos":[..]}.
//   TxnApp copy BOOTSTRAP IN OUT PARTITIONS GROUP TXID PER_TXN EXPECT
//       consume-transform-produce: a read_committed group consumer (classic protocol, subscribe,
//       no auto commit, max.poll.records=PER_TXN) and a transactional producer copy IN to OUT
//       (value upper-cased), one transaction per poll with sendOffsetsToTransaction(positions,
//       consumer.groupMetadata()); after EXPECT records, a last transaction carries only the
//       offsets once every position is at the end offset. {"ev":"txn","n":N,"offs":[..]} per
//       transaction, then {"ev":"done","copied":N,"committed":[..],"ends":[..]}.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnApp {
    static void emit(String json) {
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
        for (Throwable t = e; t != null && j.length() < 2000; t = t.getCause())
            j.add(t.getClass().getName() + ": " + t.getMessage());
        return j.toString();
    }

    static KafkaProducer<String, String> producer(String bootstrap, String txid) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", txid);
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("max.block.ms", "30000");
        p.put("delivery.timeout.ms", "30000");
        p.put("request.timeout.ms", "10000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static Properties consumerProps(String bootstrap, String isolation) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("isolation.level", isolation);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return p;
    }

    static List<TopicPartition> parts(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    public static void main(String[] a) throws Exception {
        try {
            switch (a[0]) {
                case "produce": produce(a[1], a[2], a[3], Integer.parseInt(a[4]), Integer.parseInt(a[5])); break;
                case "read": read(a[1], a[2], Integer.parseInt(a[3]), a[4]); break;
                case "copy": copy(a[1], a[2], a[3], Integer.parseInt(a[4]), a[5], a[6], Integer.parseInt(a[7]),
                                  Integer.parseInt(a[8])); break;
                default: throw new IllegalArgumentException(a[0]);
            }
        } catch (Throwable e) {
            emit("{\"ev\":\"error\",\"err\":" + q(chain(e)) + "}");
            e.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    static void produce(String bootstrap, String topic, String txid, int txns, int per) throws Exception {
        KafkaProducer<String, String> p = producer(bootstrap, txid);
        p.initTransactions();
        for (int t = 0; t < txns; t++) {
            boolean commit = t % 2 == 0;
            p.beginTransaction();
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            List<String> values = new ArrayList<>();
            for (int i = 0; i < per; i++) {
                String v = String.format("t%02d-r%02d", t, i);
                values.add(v);
                fs.add(p.send(new ProducerRecord<>(topic, "k" + (i % 7), v)));
            }
            p.flush();
            StringJoiner j = new StringJoiner(",", "[", "]");
            for (int i = 0; i < per; i++) {
                RecordMetadata md = fs.get(i).get();
                j.add("[" + md.partition() + "," + md.offset() + "," + q(values.get(i)) + "]");
            }
            if (commit) p.commitTransaction();
            else p.abortTransaction();
            emit("{\"ev\":\"txn\",\"t\":" + t + ",\"commit\":" + commit + ",\"recs\":" + j + "}");
        }

        // Fencing: a newer producer with the same transactional.id.
        KafkaProducer<String, String> p2 = producer(bootstrap, txid);
        p2.initTransactions();
        String second = "initTransactions ok";
        String sendRes = "not sent", commitRes = "not tried";
        try {
            p.beginTransaction();
            Future<RecordMetadata> f = p.send(new ProducerRecord<>(topic, "zombie", "zombie"));
            try {
                RecordMetadata md = f.get();
                sendRes = "ok " + md.partition() + "/" + md.offset();
            } catch (ExecutionException e) {
                sendRes = chain(e.getCause());
            }
            p.commitTransaction();
            commitRes = "ok";
        } catch (Exception e) {
            commitRes = chain(e);
        }
        p.close(Duration.ofSeconds(5));
        // The newer producer still works: one committed transaction.
        p2.beginTransaction();
        RecordMetadata md = p2.send(new ProducerRecord<>(topic, "k0", "second-ok")).get();
        p2.commitTransaction();
        second += "; committed second-ok at " + md.partition() + "/" + md.offset();
        p2.close(Duration.ofSeconds(5));
        emit("{\"ev\":\"fenced\",\"send\":" + q(sendRes) + ",\"commit\":" + q(commitRes) + ",\"second\":" + q(second)
             + ",\"second_p\":" + md.partition() + ",\"second_o\":" + md.offset() + "}");
    }

    static void read(String bootstrap, String topic, int n, String isolation) {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(bootstrap, isolation))) {
            List<TopicPartition> tps = parts(topic, n);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps, Duration.ofSeconds(15));
            long deadline = System.nanoTime() + 30_000_000_000L;
            long quietUntil = -1;
            while (System.nanoTime() < deadline) {
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
                if (!rs.isEmpty()) {
                    StringJoiner j = new StringJoiner(",", "[", "]");
                    for (ConsumerRecord<String, String> r : rs)
                        j.add("[" + r.partition() + "," + r.offset() + "," + q(r.value()) + "]");
                    emit("{\"ev\":\"recs\",\"recs\":" + j + "}");
                }
                boolean atEnd = true;
                for (TopicPartition tp : tps) atEnd &= c.position(tp) >= ends.get(tp);
                if (atEnd && quietUntil < 0) quietUntil = System.nanoTime() + 1_000_000_000L;
                if (quietUntil > 0 && System.nanoTime() > quietUntil) break;
            }
            StringJoiner e = new StringJoiner(",", "[", "]"), p = new StringJoiner(",", "[", "]");
            for (TopicPartition tp : tps) {
                e.add(String.valueOf(ends.get(tp)));
                p.add(String.valueOf(c.position(tp)));
            }
            emit("{\"ev\":\"end\",\"ends\":" + e + ",\"pos\":" + p + "}");
        }
    }

    static void copy(String bootstrap, String in, String out, int n, String group, String txid, int per, int expect)
            throws Exception {
        Properties cp = consumerProps(bootstrap, "read_committed");
        cp.put("group.id", group);
        cp.put("group.protocol", "classic");
        cp.put("max.poll.records", String.valueOf(per));
        List<TopicPartition> tps = parts(in, n);
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
             KafkaProducer<String, String> p = producer(bootstrap, txid)) {
            p.initTransactions();
            c.subscribe(Collections.singletonList(in));
            int copied = 0;
            long deadline = System.nanoTime() + 40_000_000_000L;
            Map<TopicPartition, Long> ends = null;
            while (System.nanoTime() < deadline) {
                ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
                boolean last = false;
                if (rs.isEmpty()) {
                    if (copied < expect || c.assignment().size() != n) continue;
                    // Everything copied: wait for the positions to pass the last markers, then
                    // commit those positions in a transaction of offsets only.
                    if (ends == null) ends = c.endOffsets(tps, Duration.ofSeconds(15));
                    boolean atEnd = true;
                    for (TopicPartition tp : tps) atEnd &= c.position(tp) >= ends.get(tp);
                    if (!atEnd) continue;
                    last = true;
                }
                p.beginTransaction();
                for (ConsumerRecord<String, String> r : rs)
                    p.send(new ProducerRecord<>(out, r.key(), r.value().toUpperCase()));
                copied += rs.count();
                Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                StringJoiner j = new StringJoiner(",", "[", "]");
                for (TopicPartition tp : c.assignment()) {
                    long pos = c.position(tp);
                    offs.put(tp, new OffsetAndMetadata(pos));
                    j.add("[" + tp.partition() + "," + pos + "]");
                }
                p.sendOffsetsToTransaction(offs, c.groupMetadata());
                p.commitTransaction();
                emit("{\"ev\":\"txn\",\"n\":" + rs.count() + ",\"offs\":" + j + "}");
                if (last) break;
            }
            Map<TopicPartition, OffsetAndMetadata> committed = c.committed(new HashSet<>(tps), Duration.ofSeconds(15));
            Map<TopicPartition, Long> endsNow = c.endOffsets(tps, Duration.ofSeconds(15));
            StringJoiner cj = new StringJoiner(",", "[", "]"), ej = new StringJoiner(",", "[", "]");
            for (TopicPartition tp : tps) {
                OffsetAndMetadata om = committed.get(tp);
                cj.add(om == null ? "null" : String.valueOf(om.offset()));
                ej.add(String.valueOf(endsNow.get(tp)));
            }
            emit("{\"ev\":\"done\",\"copied\":" + copied + ",\"committed\":" + cj + ",\"ends\":" + ej + "}");
        }
    }
}

// A consumer-group member for the compat group scenarios: the Kafka 4.3.1 Java consumer
// (classic group protocol), driven by compat/groupkit.py. Compiled on demand by groupkit
// (javac against kafka-4.3.1/libs/*) into ~/.cache/gregor/compat-java/<hash>/.
//
//   java -cp CLASSES:LIBS/* GroupMember TOPIC key=value...    (consumer properties)
//
// stdout, one JSON object a line (the same protocol as compat/group_member.py):
//   {"ev":"asg","parts":[..],"gen":G,"mid":"..."}  assignment after every change (callbacks)
//   {"ev":"gen","gen":G,"mid":"..."}                 the generation changed (seen after a poll)
//   {"ev":"recs","recs":[[partition,offset,"value"],..]}   a polled batch, before its commit
//   {"ev":"commit","offs":[[partition,next],..]}     commitSync of that batch succeeded
//   {"ev":"commit_err","err":"..."}
//   {"ev":"closed"}                                   after close()
//   {"ev":"paused"}                                  polling stopped (after a "pause" command)
// stdin, one command a line: "pause" (stop polling), "resume", "close" (close() and exit 0).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class GroupMember {
    static final Object OUT = new Object();
    static volatile boolean paused = false;
    static volatile boolean closing = false;
    static final TreeSet<Integer> owned = new TreeSet<>();
    static KafkaConsumer<String, String> consumer;

    static void emit(String json) {
        synchronized (OUT) {
            System.out.println(json);
            System.out.flush();
        }
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

    static String groupInfo() {
        try {
            ConsumerGroupMetadata m = consumer.groupMetadata();
            return "\"gen\":" + m.generationId() + ",\"mid\":" + q(m.memberId());
        } catch (Exception e) {
            return "\"gen\":null,\"mid\":null";
        }
    }

    static void emitAssignment(String cause) {
        StringJoiner j = new StringJoiner(",", "[", "]");
        synchronized (owned) {
            for (int p : owned) j.add(Integer.toString(p));
        }
        emit("{\"ev\":\"asg\",\"cause\":" + q(cause) + ",\"parts\":" + j + "," + groupInfo() + "}");
    }

    public static void main(String[] args) throws Exception {
        String topic = args[0];
        Properties props = new Properties();
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.putIfAbsent("group.protocol", "classic");
        props.putIfAbsent("enable.auto.commit", "false");
        props.putIfAbsent("auto.offset.reset", "earliest");
        consumer = new KafkaConsumer<>(props);

        Thread stdin = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    switch (line.trim()) {
                        case "pause": paused = true; break;
                        case "resume": paused = false; break;
                        case "close": closing = true; break;
                        default: break;
                    }
                }
            } catch (Exception e) {
                // stdin closed: keep running until killed or told to close
            }
        });
        stdin.setDaemon(true);
        stdin.start();

        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                synchronized (owned) { for (TopicPartition tp : parts) owned.remove(tp.partition()); }
                emitAssignment("revoke");
            }
            public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                synchronized (owned) { for (TopicPartition tp : parts) owned.add(tp.partition()); }
                emitAssignment("assign");
            }
            public void onPartitionsLost(Collection<TopicPartition> parts) {
                synchronized (owned) { for (TopicPartition tp : parts) owned.remove(tp.partition()); }
                emitAssignment("lost");
            }
        });

        int lastGen = -2;
        boolean pauseAcked = false;
        while (!closing) {
            if (paused) {
                if (!pauseAcked) {
                    pauseAcked = true;
                    emit("{\"ev\":\"paused\"}");
                }
                Thread.sleep(50);
                continue;
            }
            pauseAcked = false;
            ConsumerRecords<String, String> recs;
            try {
                recs = consumer.poll(Duration.ofMillis(200));
            } catch (org.apache.kafka.common.errors.WakeupException | org.apache.kafka.common.errors.InterruptException e) {
                throw e;
            } catch (org.apache.kafka.common.KafkaException e) {
                // e.g. while the broker restarts; a real application would retry too
                emit("{\"ev\":\"error\",\"err\":" + q(e.toString()) + "}");
                Thread.sleep(200);
                continue;
            }
            int gen = consumer.groupMetadata().generationId();
            if (gen != lastGen) {
                lastGen = gen;
                emit("{\"ev\":\"gen\"," + groupInfo() + "}");
            }
            if (recs.isEmpty()) continue;
            StringJoiner j = new StringJoiner(",", "[", "]");
            Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
            for (ConsumerRecord<String, String> r : recs) {
                j.add("[" + r.partition() + "," + r.offset() + "," + q(r.value()) + "]");
                offs.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            }
            emit("{\"ev\":\"recs\",\"recs\":" + j + "}");
            try {
                consumer.commitSync(offs);
                StringJoiner c = new StringJoiner(",", "[", "]");
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet())
                    c.add("[" + e.getKey().partition() + "," + e.getValue().offset() + "]");
                emit("{\"ev\":\"commit\",\"offs\":" + c + "}");
            } catch (Exception e) {
                emit("{\"ev\":\"commit_err\",\"err\":" + q(e.toString()) + "}");
            }
        }
        consumer.close();
        emit("{\"ev\":\"closed\"}");
        System.exit(0);
    }
}

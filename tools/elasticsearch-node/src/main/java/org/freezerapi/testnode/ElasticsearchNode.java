package org.freezerapi.testnode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.core.config.plugins.util.PluginManager;
import org.elasticsearch.analysis.common.CommonAnalysisPlugin;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.reindex.ReindexPlugin;
import org.elasticsearch.transport.Netty4Plugin;

/**
 * A single Elasticsearch 7.17 node in this JVM, for the freezer-api tests.
 *
 * <p>The server jar and the modules netty4 (REST and transport), reindex
 * ({@code _delete_by_query} and friends) and analysis-common (the
 * {@code ngram} tokenizer among others) come from Maven Central and are
 * given to {@link Node} as classpath plugins: no distribution, no
 * {@code Bootstrap}, hence no security manager, no bootstrap checks, no jar
 * hell check and no x-pack (plain HTTP, no authentication). For a
 * throw-away node on 127.0.0.1 only.
 *
 * <pre>
 * java -Xms512m -Xmx512m -jar target/elasticsearch-node.jar --home=DIR
 *     [--http-port=9201] [--transport-port=0] [--cluster-name=freezer-test]
 *     [--node-name=node-1] [--pidfile=FILE] [--default-replicas=0]
 *     [-Ekey=value ...]
 * </pre>
 *
 * <p>Environment: ELASTICSEARCH_NODE_HOME, ELASTICSEARCH_PORT and
 * ELASTICSEARCH_TRANSPORT_PORT stand in for the options. DIR/data holds the
 * indices, DIR/logs the log (elasticsearch.log) and the ports files; once the
 * node serves, DIR/node.ready says "PID URL". SIGTERM or SIGINT close the
 * node and remove the pid file and DIR/node.ready.
 */
public final class ElasticsearchNode {

    private static final String USAGE = String.join("\n",
        "usage: java [-Xmx512m] -jar elasticsearch-node.jar --home=DIR [options]",
        "  --home=DIR             node home: DIR/data, DIR/logs (env ELASTICSEARCH_NODE_HOME)",
        "  --http-port=N          HTTP port on 127.0.0.1 (default 9201, env ELASTICSEARCH_PORT)",
        "  --transport-port=N     transport port, 0 = any free one (default 0,",
        "                         env ELASTICSEARCH_TRANSPORT_PORT)",
        "  --cluster-name=NAME    default freezer-test",
        "  --node-name=NAME       default node-1",
        "  --pidfile=FILE         written at start, removed on a clean stop",
        "  --default-replicas=N   replicas of indices created without an explicit",
        "                         number_of_replicas (default 0, so one node is green;",
        "                         empty: Elasticsearch's own default, 1)",
        "  -Ekey=value            any other node setting");

    /** The classpath-plugin constructor of {@link Node} is protected. */
    private static final class ModularNode extends Node {
        ModularNode(Environment environment, Collection<Class<? extends Plugin>> modules) {
            super(environment, modules, true);
        }
    }

    private final Path home;
    private final Path pidFile;
    private final String replicas;
    private final Settings settings;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile Node node;
    private volatile boolean stopping;

    private ElasticsearchNode(Map<String, String> options, Settings.Builder extra) {
        home = Path.of(options.get("home")).toAbsolutePath().normalize();
        pidFile = options.get("pidfile").isEmpty() ? null : Path.of(options.get("pidfile")).toAbsolutePath();
        replicas = options.get("default-replicas");
        settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", options.get("cluster-name"))
            .put("node.name", options.get("node-name"))
            .put("network.host", "127.0.0.1")
            .put("http.port", options.get("http-port"))
            .put("transport.port", options.get("transport-port"))
            .put("http.type", Netty4Plugin.NETTY_HTTP_TRANSPORT_NAME)
            .put("transport.type", Netty4Plugin.NETTY_TRANSPORT_NAME)
            .put("discovery.type", "single-node")
            // logs/http.ports and logs/transport.ports, once bound
            .put("node.portsfile", true)
            // never turn indices read-only because the test disk is nearly full
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false)
            .put(extra.build())
            .build();
    }

    public static void main(String[] args) {
        ElasticsearchNode launcher;
        try {
            launcher = fromCommandLine(args);
        } catch (IllegalArgumentException e) {
            System.err.println("elasticsearch-node: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        try {
            launcher.prepareHome();
        } catch (IOException e) {
            System.err.println("elasticsearch-node: cannot prepare " + launcher.home + ": " + e);
            System.exit(1);
            return;
        }
        // Before the first logger: where log4j2.properties writes, the
        // package of Elasticsearch's own log4j plugins (HeaderWarningAppender;
        // its jar has no plugin index), and no log4j shutdown hook, so that
        // the node can still log while it closes.
        System.setProperty("elasticsearch.node.logs", launcher.home.resolve("logs").toString());
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        PluginManager.addPackage("org.elasticsearch.common.logging");

        if (!launcher.run()) {
            System.exit(1); // the shutdown hook closes what was built
        }
        // Stopped by a signal: the shutdown hook closed the node, and the
        // JVM halts once it returns.
    }

    private void prepareHome() throws IOException {
        for (String dir : List.of("config", "data", "logs", "plugins", "modules", "tmp")) {
            Files.createDirectories(home.resolve(dir));
        }
        Files.deleteIfExists(readyFile());
        if (pidFile != null) {
            Files.createDirectories(pidFile.getParent());
            Files.writeString(pidFile, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
        }
    }

    private Path readyFile() {
        return home.resolve("node.ready");
    }

    /** Starts the node and waits for the end; false if the start failed. */
    private boolean run() {
        Logger logger = LogManager.getLogger(ElasticsearchNode.class);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(logger), "elasticsearch-node-shutdown"));
        long pid = ProcessHandle.current().pid();
        try {
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, new HashMap<>(), home.resolve("config"), () -> settings.get("node.name"));
            node = new ModularNode(environment,
                List.of(Netty4Plugin.class, ReindexPlugin.class, CommonAnalysisPlugin.class));
            node.start();
            applyDefaultReplicas();
            String url = "http://" + node.injector().getInstance(HttpServerTransport.class)
                .boundAddress().publishAddress();
            // What tools/testenv/search.py waits for: this node, not
            // some other server on the port, is up and set up.
            Files.writeString(readyFile(), pid + " " + url + "\n", StandardCharsets.US_ASCII);
            logger.info("elasticsearch-node ready: {} (pid {})", url, pid);
            System.out.println("elasticsearch-node: listening on " + url);
            System.out.flush();
        } catch (Throwable t) {
            logger.error("elasticsearch-node failed to start", t);
            System.err.println("elasticsearch-node: failed to start: " + t);
            return false;
        }
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return true;
    }

    /**
     * Elasticsearch 7 has no cluster-wide default for the replica count
     * (OpenSearch's cluster.default_number_of_replicas): a global legacy
     * template of the lowest order gives it, so every other template and any
     * explicit index setting win over it.
     */
    private void applyDefaultReplicas() {
        if (replicas.isEmpty()) {
            return;
        }
        node.client().admin().indices().preparePutTemplate("freezer-test-node-defaults")
            .setPatterns(List.of("*"))
            .setOrder(Integer.MIN_VALUE)
            .setSettings(Settings.builder().put("index.number_of_replicas", Integer.parseInt(replicas)))
            .get(TimeValue.timeValueSeconds(30));
    }

    private void stop(Logger logger) {
        if (stopping) {
            return;
        }
        stopping = true;
        try {
            Files.deleteIfExists(readyFile());
            Node running = node;
            if (running != null) {
                logger.info("elasticsearch-node stopping");
                running.close();
                if (!running.awaitClose(30, TimeUnit.SECONDS)) {
                    logger.warn("elasticsearch-node: the node did not close within 30s");
                }
                logger.info("elasticsearch-node stopped");
            }
        } catch (Throwable t) {
            logger.error("elasticsearch-node: error while closing", t);
        } finally {
            removeOwnPidFile();
            stopped.countDown();
            LogManager.shutdown();
        }
    }

    private void removeOwnPidFile() {
        if (pidFile == null) {
            return;
        }
        try {
            // Another node may have taken the file over since.
            if (Files.readString(pidFile, StandardCharsets.US_ASCII).trim()
                    .equals(String.valueOf(ProcessHandle.current().pid()))) {
                Files.delete(pidFile);
            }
        } catch (IOException e) {
            // gone already
        }
    }

    private static ElasticsearchNode fromCommandLine(String[] args) {
        Map<String, String> options = new HashMap<>();
        options.put("home", System.getenv().getOrDefault("ELASTICSEARCH_NODE_HOME", ""));
        options.put("http-port", System.getenv().getOrDefault("ELASTICSEARCH_PORT", "9201"));
        options.put("transport-port", System.getenv().getOrDefault("ELASTICSEARCH_TRANSPORT_PORT", "0"));
        options.put("cluster-name", "freezer-test");
        options.put("node-name", "node-1");
        options.put("default-replicas", "0");
        options.put("pidfile", "");
        Settings.Builder extra = Settings.builder();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (arg.equals("-h") || arg.equals("--help")) {
                System.out.println(USAGE);
                System.exit(0);
            } else if (arg.startsWith("-E") && eq > 2) {
                extra.put(arg.substring(2, eq), arg.substring(eq + 1));
            } else if (arg.startsWith("--") && eq > 2 && options.containsKey(arg.substring(2, eq))) {
                options.put(arg.substring(2, eq), arg.substring(eq + 1));
            } else {
                throw new IllegalArgumentException("unexpected argument " + arg);
            }
        }
        if (options.get("home").isEmpty()) {
            throw new IllegalArgumentException("--home=DIR (or ELASTICSEARCH_NODE_HOME) is required");
        }
        for (String port : List.of("http-port", "transport-port")) {
            if (!options.get(port).matches("[0-9]{1,5}") || Integer.parseInt(options.get(port)) > 65535) {
                throw new IllegalArgumentException("bad --" + port + ": " + options.get(port));
            }
        }
        if (!options.get("default-replicas").matches("[0-9]*")) {
            throw new IllegalArgumentException("bad --default-replicas: " + options.get("default-replicas"));
        }
        return new ElasticsearchNode(options, extra);
    }
}

package org.freezerapi.testnode;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Runs one OpenSearch node inside this JVM, for the freezer-api tests.
 *
 * <p>The server and the modules netty4 (HTTP and transport), analysis-common,
 * reindex (_delete_by_query, _update_by_query) and lang-painless come from
 * Maven Central as ordinary jars and are handed to {@link Node} as classpath
 * plugins, so no OpenSearch distribution is needed. This is not
 * the official launcher: there is no security manager, no bootstrap checks
 * and no jar hell check; it is meant for a throw-away node on 127.0.0.1.
 *
 * <pre>
 * java -Xms512m -Xmx512m -jar target/opensearch-node.jar \
 *     --home=DIR [--http-port=9200] [--transport-port=0] \
 *     [--cluster-name=freezer-test] [--node-name=node-1] \
 *     [--pidfile=FILE] [--default-replicas=0] [-Ekey=value ...]
 * </pre>
 *
 * <p>Environment fallbacks: OPENSEARCH_NODE_HOME, OPENSEARCH_PORT,
 * OPENSEARCH_TRANSPORT_PORT. Data goes to DIR/data, logs to DIR/logs
 * (opensearch.log, http.ports, transport.ports); DIR/node.ready holds
 * "PID URL" once the node serves requests. SIGTERM/SIGINT close the node
 * cleanly and remove the pid file and DIR/node.ready.
 */
public final class OpenSearchNode {

    private OpenSearchNode() {
    }

    /** {@link Node} only exposes the classpath-plugin constructor to subclasses. */
    private static final class PluginNode extends Node {
        PluginNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    /** Parsed command line. */
    private static final class Options {
        Path home;
        String httpPort;
        String transportPort;
        String clusterName = "freezer-test";
        String nodeName = "node-1";
        String defaultReplicas = "0";
        Path pidFile;
        final Map<String, String> extra = new LinkedHashMap<>();
    }

    public static void main(String[] args) {
        Options options;
        try {
            options = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("opensearch-node: " + e.getMessage());
            usage(System.err);
            System.exit(2);
            return;
        }

        Path logs = options.home.resolve("logs");
        try {
            for (String sub : new String[] {"config", "data", "logs", "plugins", "modules", "tmp"}) {
                Files.createDirectories(options.home.resolve(sub));
            }
            Files.deleteIfExists(readyFile(options));
            if (options.pidFile != null) {
                Path parent = options.pidFile.toAbsolutePath().getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                Files.writeString(options.pidFile, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
            }
        } catch (IOException e) {
            System.err.println("opensearch-node: cannot prepare " + options.home + ": " + e);
            System.exit(1);
            return;
        }

        // Logging must be set up before the first Logger exists. The bundled
        // log4j2.properties reads this property; log4j's own shutdown hook is
        // turned off so the node can still log while it closes.
        System.setProperty("opensearch.node.logs", logs.toString());
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");

        int status = run(options);
        if (status != 0) {
            // Runs the shutdown hook, which closes whatever was built.
            System.exit(status);
        }
        // Otherwise the node was stopped by a signal: the shutdown hook has
        // closed it and the JVM halts once the hook returns.
    }

    private static int run(Options options) {
        Logger logger = LogManager.getLogger(OpenSearchNode.class);
        Settings settings = settings(options);
        CountDownLatch closed = new CountDownLatch(1);
        AtomicBoolean closing = new AtomicBoolean(false);
        AtomicReference<Node> current = new AtomicReference<>();

        Thread hook = new Thread(() -> {
            if (closing.compareAndSet(false, true)) {
                try {
                    Files.deleteIfExists(readyFile(options));
                } catch (IOException e) {
                    // best effort
                }
                shutdown(logger, current.get(), options.pidFile);
            }
            closed.countDown();
        }, "opensearch-node-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        try {
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, Map.of(), options.home.resolve("config"), () -> options.nodeName);
            List<Class<? extends Plugin>> plugins = List.of(
                Netty4Plugin.class, CommonAnalysisPlugin.class, ReindexPlugin.class, PainlessPlugin.class);
            Node node = new PluginNode(environment, plugins);
            current.set(node);
            node.start();
            if (!options.defaultReplicas.isEmpty()) {
                // Only takes effect as a cluster (not node) setting. A single
                // node cannot place replicas, so with the stock default of 1
                // every new index would stay yellow; an explicit
                // number_of_replicas in an index's settings still wins.
                node.client().admin().cluster().prepareUpdateSettings()
                    .setPersistentSettings(Settings.builder()
                        .put("cluster.default_number_of_replicas", Integer.parseInt(options.defaultReplicas))
                        .build())
                    .get(TimeValue.timeValueSeconds(30));
            }
            String http = String.valueOf(node.injector()
                .getInstance(HttpServerTransport.class)
                .boundAddress().publishAddress());
            // Tells tools/testenv/search.py that this node, not some
            // other listener on the port, is up and fully set up.
            Files.writeString(readyFile(options), ProcessHandle.current().pid() + " http://" + http + "\n",
                StandardCharsets.US_ASCII);
            logger.info("opensearch-node ready: http://{} (pid {})", http, ProcessHandle.current().pid());
            System.out.println("opensearch-node: listening on http://" + http);
            System.out.flush();
        } catch (Throwable t) {
            logger.error("opensearch-node failed to start", t);
            System.err.println("opensearch-node: failed to start: " + t);
            return 1;
        }

        try {
            closed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    private static void shutdown(Logger logger, Node node, Path pidFile) {
        try {
            if (node != null) {
                logger.info("opensearch-node stopping");
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    logger.warn("opensearch-node: node did not close within 30s");
                }
                logger.info("opensearch-node stopped");
            }
        } catch (Throwable t) {
            logger.error("opensearch-node: error while closing", t);
        } finally {
            removePidFile(pidFile);
            LogManager.shutdown();
        }
    }

    private static Path readyFile(Options options) {
        return options.home.resolve("node.ready");
    }

    private static void removePidFile(Path pidFile) {
        if (pidFile == null) {
            return;
        }
        try {
            String content = Files.readString(pidFile, StandardCharsets.US_ASCII).trim();
            if (content.equals(Long.toString(ProcessHandle.current().pid()))) {
                Files.deleteIfExists(pidFile);
            }
        } catch (IOException e) {
            // Already gone or unreadable: nothing to clean up.
        }
    }

    static Settings settings(Options options) {
        Path home = options.home;
        Settings.Builder builder = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", options.clusterName)
            .put("node.name", options.nodeName)
            .put("network.host", "127.0.0.1")
            .put("http.port", options.httpPort)
            .put("transport.port", options.transportPort)
            .put("http.type", Netty4Plugin.NETTY_HTTP_TRANSPORT_NAME)
            .put("transport.type", Netty4Plugin.NETTY_TRANSPORT_NAME)
            .put("discovery.type", "single-node")
            // Writes logs/http.ports and logs/transport.ports once bound.
            .put("node.portsfile", true)
            // A test machine's disk may be nearly full; never flip indices
            // to read-only because of that.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false);
        for (Map.Entry<String, String> entry : options.extra.entrySet()) {
            builder.put(entry.getKey(), entry.getValue());
        }
        return builder.build();
    }

    private static Options parse(String[] args) {
        Options options = new Options();
        String home = System.getenv("OPENSEARCH_NODE_HOME");
        options.httpPort = envOr("OPENSEARCH_PORT", "9200");
        options.transportPort = envOr("OPENSEARCH_TRANSPORT_PORT", "0");
        for (String arg : args) {
            if (arg.equals("-h") || arg.equals("--help")) {
                usage(System.out);
                System.exit(0);
            } else if (arg.startsWith("-E")) {
                String kv = arg.substring(2);
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected -Ekey=value, got " + arg);
                }
                options.extra.put(kv.substring(0, eq), kv.substring(eq + 1));
            } else if (arg.startsWith("--") && arg.indexOf('=') > 2) {
                int eq = arg.indexOf('=');
                String key = arg.substring(2, eq);
                String value = arg.substring(eq + 1);
                switch (key) {
                    case "home": home = value; break;
                    case "http-port": options.httpPort = value; break;
                    case "transport-port": options.transportPort = value; break;
                    case "cluster-name": options.clusterName = value; break;
                    case "node-name": options.nodeName = value; break;
                    case "pidfile": options.pidFile = Paths.get(value).toAbsolutePath(); break;
                    case "default-replicas": options.defaultReplicas = value; break;
                    default: throw new IllegalArgumentException("unknown option --" + key);
                }
            } else {
                throw new IllegalArgumentException("unexpected argument " + arg);
            }
        }
        if (home == null || home.isEmpty()) {
            throw new IllegalArgumentException("--home=DIR (or OPENSEARCH_NODE_HOME) is required");
        }
        options.home = Paths.get(home).toAbsolutePath().normalize();
        checkPort("http port", options.httpPort);
        checkPort("transport port", options.transportPort);
        if (!options.defaultReplicas.isEmpty() && !options.defaultReplicas.matches("[0-9]+")) {
            throw new IllegalArgumentException("bad --default-replicas: " + options.defaultReplicas);
        }
        return options;
    }

    private static void checkPort(String what, String value) {
        try {
            int port = Integer.parseInt(value);
            if (port < 0 || port > 65535) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad " + what + ": " + value);
        }
    }

    private static String envOr(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static void usage(PrintStream out) {
        List<String> lines = new ArrayList<>();
        lines.add("usage: java [-Xmx512m] -jar opensearch-node.jar --home=DIR [options]");
        lines.add("  --home=DIR             node home; data in DIR/data, logs in DIR/logs");
        lines.add("  --http-port=N          HTTP port on 127.0.0.1 (default 9200, env OPENSEARCH_PORT)");
        lines.add("  --transport-port=N     transport port, 0 = any free one (default 0)");
        lines.add("  --cluster-name=NAME    default freezer-test");
        lines.add("  --node-name=NAME       default node-1");
        lines.add("  --pidfile=FILE         written at start, removed on clean stop");
        lines.add("  --default-replicas=N   persistent cluster.default_number_of_replicas set at");
        lines.add("                         start (default 0, so one node is green); empty: leave it");
        lines.add("  -Ekey=value            any other OpenSearch node setting");
        for (String line : lines) {
            out.println(line);
        }
    }
}

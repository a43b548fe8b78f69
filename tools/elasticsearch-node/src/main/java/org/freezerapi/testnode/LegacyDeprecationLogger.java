package org.freezerapi.testnode;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * The part of Elasticsearch 7.10's {@code DeprecationLogger} that the
 * analysis-common module of 7.10.2 calls, which 7.17 no longer has:
 * {@code getLogger(Class)} and {@code deprecate(key, message, params)} (7.17
 * wants a category too). The build relocates the module's references to
 * {@code org.elasticsearch.common.logging.DeprecationLogger} here (pom.xml),
 * so a deprecated name such as {@code nGram} gets a log line and, through
 * the {@code HeaderWarningAppender} of the deprecation loggers
 * (log4j2.properties), a {@code Warning} header, as on a real node, instead
 * of a {@link NoSuchMethodError}.
 */
public final class LegacyDeprecationLogger {

    /** What 7.10's {@code deprecate} returns; the module never uses it. */
    public static final class DeprecationLoggerBuilder {
        private DeprecationLoggerBuilder() {
        }
    }

    private static final DeprecationLoggerBuilder DONE = new DeprecationLoggerBuilder();

    private final Logger logger;

    private LegacyDeprecationLogger(Logger logger) {
        this.logger = logger;
    }

    public static LegacyDeprecationLogger getLogger(Class<?> owner) {
        return new LegacyDeprecationLogger(LogManager.getLogger("org.elasticsearch.deprecation." + owner.getName()));
    }

    /** {@code key} made 7.10 log each message once; every use is logged here. */
    public DeprecationLoggerBuilder deprecate(String key, String message, Object... params) {
        logger.warn(message, params);
        return DONE;
    }
}

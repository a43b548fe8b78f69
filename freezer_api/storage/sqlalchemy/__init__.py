"""SQL storage driver: SQLite (embedded default), PostgreSQL, MariaDB/MySQL."""

"""Storage drivers behind one interface (``base.StorageDriver``)."""

from stevedore import driver as stevedore_driver

NAMESPACE = "freezer_api.storage"


def load_driver(conf):
    """Build the driver named by ``[storage] driver`` (an entry point in the
    ``freezer_api.storage`` namespace), handing it the config."""
    manager = stevedore_driver.DriverManager(
        NAMESPACE, conf.storage.driver, invoke_on_load=True,
        invoke_args=(conf,))
    return manager.driver

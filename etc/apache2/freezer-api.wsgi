# The script Apache's mod_wsgi loads for freezer-api (see freezer-api.conf
# beside it). mod_wsgi does not pass SetEnv to os.environ: name the
# service's configuration file here.
import os

os.environ.setdefault("FREEZER_API_CONFIG", "/etc/freezer/freezer-api.conf")

from freezer_api.wsgi import application  # noqa: E402,F401

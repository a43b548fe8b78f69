# Sphinx configuration of the API reference (os-api-ref):
#   pip install sphinx os-api-ref openstackdocstheme
#   sphinx-build -W -b html api-ref/source api-ref/build/html

project = "freezer-api"
copyright = "OpenStack Foundation and the freezer-api authors"
extensions = ["os_api_ref"]
html_theme = "openstackdocs"
master_doc = "index"

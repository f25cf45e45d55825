"""Customer Personalization Workbench: audit, features, segments, churn and A/B analysis
for marketing data science, as tested functions behind parameterised notebooks.

Importing the package loads nothing heavy: each module imports what it uses.
"""

import os
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("customer-personalization-workbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]

# rfc3987-syntax (which jsonschema picks up as an optional IRI checker when it is installed;
# Jupyter's jsonschema[format-nongpl] installs it) compiles 39 Lark grammars when imported:
# 2-4 s in every kernel and in `workbench run`, reached through plotly.io -> nbformat ->
# jsonschema, although nothing here validates an IRI. Marking it absent makes jsonschema
# skip that optional format check. WORKBENCH_KEEP_RFC3987=1 keeps the module.
if not os.environ.get("WORKBENCH_KEEP_RFC3987"):
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

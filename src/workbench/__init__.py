"""Customer Personalization Workbench: audit, features, segments, churn and A/B analysis
for marketing data science, as tested functions behind parameterised notebooks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("customer-personalization-workbench")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__"]

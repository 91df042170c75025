"""tokenturn: an OAuth 2.0 token service and refresh client that keeps access tokens fresh.

The server is :mod:`tokenturn.server`, the client SDK :mod:`tokenturn.client`, the refresh proxy
:mod:`tokenturn.proxy`, and the command line ``tokenturn``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""The refresh proxy (contract §3): a browser renews its tokens without ever holding the client secret.

from tokenturn.proxy import ProxyApp, ProxyConfig

app = ProxyApp(ProxyConfig(upstream="http://127.0.0.1:8000", client_id="...", client_secret="..."))
"""

from __future__ import annotations

from tokenturn.proxy.app import ProxyApp
from tokenturn.proxy.config import ProxyConfig, ProxyConfigError, upstream_base
from tokenturn.proxy.upstream import Upstream, UpstreamAnswer, UpstreamTimeout, UpstreamUnavailable

__all__ = [
    "ProxyApp",
    "ProxyConfig",
    "ProxyConfigError",
    "Upstream",
    "UpstreamAnswer",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "upstream_base",
]

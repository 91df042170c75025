"""The ASGI server: routes -> load -> core decision -> persist -> render."""

from tokenturn.server.app import TokenturnApp, create_app

__all__ = ["TokenturnApp", "create_app"]

"""An OpenAI-compatible proxy that aligns answers: `hia serve --upstream URL --model NAME`.

- app.py: the routes (Starlette), the token, request ids and body limits;
- errors.py: every error in the OpenAI shape;
- streaming.py: server-sent events that start at once;
- server.py: `ProxyServer`, the app on uvicorn.
"""

from hia.serving.app import ProxyApp, ProxyConfig
from hia.serving.server import ProxyServer

__all__ = ["ProxyApp", "ProxyConfig", "ProxyServer"]

"""Podium control plane: event model, wire protocol, state stores and the aiohttp server."""

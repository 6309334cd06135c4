"""Fakes of the outside services as real local servers (aiohttp on 127.0.0.1) that record requests."""

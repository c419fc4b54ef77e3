"""WaveSpeed's v3 API without Django: its contract, a client for it, and a simulator of it.

`contract` holds the model's facts, `client` talks HTTP, `simulator` stands in for the API
(`python -m generations.wavespeed.simulator`). Import the module you need.
"""

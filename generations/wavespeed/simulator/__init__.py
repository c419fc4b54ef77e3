"""A local stand-in for WaveSpeed's v3 API, for the model of ``generations.wavespeed.contract``.

Standalone: the standard library, Pillow and ``playground.env``, no Django. Run it with
``python -m generations.wavespeed.simulator [--host 127.0.0.1] [--port 8001] [--quiet]``
or in-process with ``server.make_server``.

Environment (see ``config.SimulatorConfig.from_env``):
    SIMULATOR_API_KEY       the Bearer key accepted (default "simulator")
    SIMULATOR_LATENCY       seconds from submit to completion (default 3.0)
    SIMULATOR_NSFW_RATE     share of outputs flagged NSFW, 0..1
    SIMULATOR_FAILURE_RATE  share of predictions failing with code 5000, 0..1
    SIMULATOR_FAULTS        e.g. "500=0.1,429=0.05,drop=0.02,slow=0.1,slow_seconds=3"; also
                            drop_created (share of dropped submits that created the task, 0.5)
    SIMULATOR_SYNC_WAIT     longest server-side wait of sync mode in seconds (default 90)
    SIMULATOR_RANDOM_SEED   makes seeds, flags, failures and faults reproducible

Prompt markers, for deterministic tests: ``[nsfw]`` flags the output; ``[fail]`` fails with
5000 "internal error"; ``[fail:NNNN]`` fails with that task code (1200 is moderation);
``[latency=X]`` sets this prediction's latency in seconds; ``[throttle=N]`` makes its result
answer 429 with ``Retry-After`` for N seconds from its first poll; ``[hang=S]`` holds the submit's
answer S seconds after the task was created.
"""

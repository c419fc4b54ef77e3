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
                            502 and 503 (those answers), 429_bare (429 without Retry-After),
                            drop_created (share of dropped submits that created the task, 0.5)
                            and hide_inputs (share of history answers whose items carry no
                            ``input`` even when asked for inputs, as in the docs' example)
    SIMULATOR_SYNC_WAIT     longest server-side wait of sync mode in seconds (default 90)
    SIMULATOR_RANDOM_SEED   makes seeds, flags, failures and faults reproducible
    SIMULATOR_WEBHOOK_SECRET        what GET /api/v3/webhook/secret answers and webhook calls
                                    are signed with (default whsec_simulator-webhook-secret)
    SIMULATOR_WEBHOOK_FAILURE_RATE  share of webhook attempts lost, 0..1 (then retried after
                                    0.5, 1, 2, 4, 8, 16 s); also --webhook-failure-rate

Webhooks: a submit with ``?webhook=<http(s) URL>`` gets the bare prediction POSTed there, signed
as WaveSpeed signs it (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v3,<hex>``),
when it completes or fails; a non-2xx answer or none is retried (see ``webhooks``).

The history (``POST /api/v3/predictions``) shows each item's ``input`` only when the body says
``"include_inputs": true``.

Prompt markers, for deterministic tests:
    ``[nsfw]``            flags the output
    ``[fail]``            the prediction fails with 5000 "internal error"
    ``[fail:NNNN]``       the prediction fails with that task code (1200 is moderation)
    ``[latency=X]``       this prediction's latency in seconds
    ``[refuse:NNNN]``     the submit answers HTTP 200 ``{"code": NNNN, "message": ..., "data":
                          null}`` and creates nothing (1400: a missing parameter)
    ``[lose-answer]``     the submit creates (and charges) the task, then closes the connection
                          without a byte: the lost answer a client must settle, never resend
    ``[hang=S]``          the submit creates the task, then waits S seconds before answering
    ``[hang-before=S]``   the submit waits S seconds, then creates the task and answers
    ``[throttle=N]``      the prediction's result GET answers 429 with ``Retry-After`` (the
                          seconds left, N at first) for N seconds from its first poll, then
                          normally: a client that honours the header gets through next time
    ``[vanish-once]``     the prediction's first result GET answers 404, later ones normally
    ``[webhook-fail=N]``  the first N attempts of its webhook call are lost (then retried;
                          7 or more: never delivered, so only polling finds the result)

Controls (POST, with the Bearer key; or the same methods on the in-thread server object):
    ``/_sim/revoke-key``  from now on every /api/v3 call answers 401 (``server.revoke_key()``)
    ``/_sim/restore-key`` the key works again (``server.restore_key()``)
    ``/_sim/record``      (GET) every prediction held (id, prompt, status, its result GETs,
                          its webhook call's attempts) and the faults injected so far,
                          counted by kind (``server.tally``), and when a result GET first
                          answered that each had ended (``end_seen_at``)
    ``/_sim/prerender``   render these outputs now, into the renderer's cache (body:
                          ``{"outputs": [{"prompt", "seed", "aspect_ratio"}]}``, at most 256)
"""

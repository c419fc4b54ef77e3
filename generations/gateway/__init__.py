"""A WaveSpeed-compatible API served by the app, for scripts holding a personal access token.

The same paths, envelopes, statuses, validation and error codes as WaveSpeed's v3 API for the
one model the app serves, so WaveSpeed's official clients work with `base_url` set to the app.
A call becomes an ordinary generation of the token's user (`submission.create_batch`): in the
gallery under their name, within their budget, through moderation. Prediction ids are the
app's generation ids, and outputs are the app's stored files, served to tokens under the
gallery's visibility rule.

`auth` (the Bearer token and the per-token request rate), `envelopes` (the answers' shape),
`predictions` (what each endpoint does), `views` and `urls` (thin).
"""

"""gunicorn settings from the app's environment: `gunicorn -c python:playground.gunicorn_conf`."""

from playground.env import env_int, env_str

bind = f"{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=1, maximum=65535)}"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1, maximum=64)
# Threads keep a slow image download from holding a whole worker process.
threads = env_int("GUNICORN_THREADS", 4, minimum=1, maximum=64)
# Requests are short: pages, JSON polls, and one image of at most DOWNLOAD_MAX_BYTES.
timeout = env_int("GUNICORN_TIMEOUT", 60, minimum=5)
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# No query strings in the access log: keep it to method, path, status, size and duration.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

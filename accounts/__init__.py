"""People's accounts and sign-in (issue 22): who may sign in, with which role, and their sessions.

`model` (pure: account rules), `passwords` (argon2id), `store` (users and sessions tables;
the sessions port of `kernel.sessions`), `throttle` (failed sign-ins, in Redis), `sign_in`
(the sign-in itself), `api` and `static/` (the zh-CN sign-in page), `plugin` (install).
Whether a session may be used is decided in `kernel.auth`, never here.
"""

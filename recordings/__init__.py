"""Calls and their recordings for supervisors: search, detail with transcript, the audio itself
(HTTP Range), the access audit's API, and the supervisor's recordings page."""

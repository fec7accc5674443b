"""The web console at ``/ui``: server-rendered pages over the same services as the API.

- ``session.py``: the token cookie, the viewer, the CSRF check;
- ``console.py``: the router, templates, sections, login, ``@page`` / ``@action``;
- ``charts.py``: SVG bars and heatmap colours drawn on the server, time-series down-sampling;
- ``models_pages.py``, ``endpoint_pages.py``, ``monitor_pages.py``, ``experiment_pages.py``, ``job_pages.py``:
  one module per section;
- ``routes.py``: imports them all, adds the 404 page; ``create_app`` includes its router.

Templates are Jinja2 (``templates/``); ``static/`` holds the CSS, a little JavaScript and uPlot (MIT, vendored
with its licence): no CDN, no Node toolchain.
"""

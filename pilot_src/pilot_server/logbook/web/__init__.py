"""The administrators' web page: the pages (pages.py) and their parameters (params.py), the SVG
charts (charts.py), the queries (data.py) and the login sessions (session.py).  The markup is the
Jinja2 templates of templates/, autoescaped (views.py); the style sheet and script are in static/."""

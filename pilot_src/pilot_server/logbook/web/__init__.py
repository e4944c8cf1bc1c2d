"""The administrators' web page: the pages, their SVG charts, their queries and login sessions.
The page's static files are in static/."""

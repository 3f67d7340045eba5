"""The operations console: pure read models (alerts, figures, SVG charts) and its static pages.

``static/`` holds every asset the browser loads (HTML, CSS, JS); nothing comes from a CDN, so
the console works on a hall network with no internet.
"""

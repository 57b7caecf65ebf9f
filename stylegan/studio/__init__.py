"""stylegan studio: an interactive page in the browser for any generator the package reads (python -m
stylegan.studio). The server (FastAPI, the optional `studio` extra) and its worker processes are in server.py and
processes.py, the network work in renderer.py and projector.py, the page in static/."""

"""One blueprint per resource; each module exposes ``blp``, listed in ``app.BLUEPRINTS``."""

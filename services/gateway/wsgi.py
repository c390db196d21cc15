"""gunicorn entry point.

``gunicorn -c services/gateway/gunicorn.conf.py 'services.gateway.wsgi:app'``
"""

from services.gateway.app import create_app
from services.gateway.errors import configure_logging

configure_logging()
app = create_app()

"""Flask extensions, created unbound and attached in ``create_app``."""

from flask.globals import _cv_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as _FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Stable constraint names so that migrations work the same on SQLite and PostgreSQL.
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


READ_CONNECTION = "jointdesk_read_connection"


class Session(_FlaskSession):
    """Flask-SQLAlchemy's session, except in a request that only reads
    (``cases.read.read_without_transaction``): there every statement runs on that request's
    connection from the autocommit pool (``g``'s ``READ_CONNECTION``)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None:
            # the app context's g read directly, as a dict (a statement of a worker's delivery
            # asks three times; through the ``g`` proxy, or getattr on g, which raises and
            # catches a KeyError when the attribute is missing, it cost more than the rest)
            context = _cv_app.get(None)
            connection = context.g.__dict__.get(READ_CONNECTION) if context else None
            if connection is not None:
                return connection
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(
    metadata=MetaData(naming_convention=naming_convention),
    session_options={"class_": Session},
)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

"""Socket.IO without its Redis client until a lecture hall asks for it.

Theory of operation
-------------------
python-socketio's package imports every client manager it ships, and its two Redis managers import
``redis`` (the client library: about 60 modules, 10 MiB resident) as they load, whether or not a
message queue is ever used.  Only a lecture hall uses one (``app.py --message-queue``/``--web-only``,
hall.py); a default ``app.py`` never does.

So :func:`import_socketio` makes the first import of Socket.IO with ``redis`` hidden:
``sys.modules["redis"] = None`` makes ``import redis`` raise ImportError, which those managers expect
(a missing optional library) and answer by recording None.  :func:`enable_redis`, called by the hall
before it builds a manager, imports ``redis`` for real and hands it to them: they look the library up
in their module's globals when they connect, not before.  If Socket.IO was already imported (a
test's client, say), nothing is hidden and :func:`enable_redis` finds the library in place.
"""
from __future__ import annotations

import sys


def import_socketio() -> None:
    """Import ``socketio`` and ``flask_socketio`` without loading ``redis``."""
    if "socketio" in sys.modules:
        return
    hidden = "redis" not in sys.modules
    if hidden:
        sys.modules["redis"] = None             # type: ignore[assignment]  # import redis -> ImportError
    try:
        import flask_socketio  # noqa: F401
        import socketio  # noqa: F401
    finally:
        if hidden and "redis" in sys.modules and sys.modules["redis"] is None:
            del sys.modules["redis"]


def enable_redis() -> None:
    """Give python-socketio's Redis managers the ``redis`` library (imported now, if not yet)."""
    import redis
    import redis.asyncio
    import redis.exceptions
    from socketio import async_redis_manager, redis_manager

    if redis_manager.redis is None or redis_manager.RedisError is None:
        redis_manager.redis, redis_manager.RedisError = redis, redis.exceptions.RedisError
    if async_redis_manager.aioredis is None or async_redis_manager.RedisError is None:
        async_redis_manager.aioredis = redis.asyncio
        async_redis_manager.RedisError = redis.exceptions.RedisError

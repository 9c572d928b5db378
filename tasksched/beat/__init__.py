"""Beat: the Celery scheduler class (:mod:`.scheduler`), the tick (:mod:`.tick`), what a tick
claims (:mod:`.plan`) and how claimed runs are published (:mod:`.publisher`).

``celery -A tasksched beat`` uses ``tasksched.beat:RedisScheduler`` (configured by the app).
"""

from tasksched.beat.scheduler import RedisScheduler

__all__ = ["RedisScheduler"]

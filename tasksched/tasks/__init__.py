"""Celery tasks: ``tasksched.train`` (:mod:`.training`) and ``tasksched.notify`` (:mod:`.notify`).

Kept empty of imports: the training child process (``python -m tasksched.tasks.trainer``)
imports this package and must not load Celery.
"""

"""``python -m tasksched.cli``: the ``tasksched`` command."""

from tasksched.cli import main

main()

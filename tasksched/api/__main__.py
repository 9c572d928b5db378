"""``python -m tasksched.api [HOST] [PORT]``: serve the API (see :func:`server.serve`)."""

from __future__ import annotations

import sys

from tasksched.api.server import serve
from tasksched.errors import ValidationError


def main(argv: list[str]) -> int:
    """Serve on TASKSCHED_API_HOST/PORT, or on the host and port given."""
    host = argv[0] if argv else None
    port = int(argv[1]) if len(argv) > 1 else None
    try:
        serve(host=host, port=port)
    except ValidationError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

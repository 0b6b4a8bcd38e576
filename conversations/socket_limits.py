"""How many websockets each user has open in this process, and the cap on them (`SOCKETS_PER_USER`).

The count is per process on purpose: what too many sockets exhaust is a
process's memory and file descriptors, the count costs nothing to keep, and it
cannot outlive a crash (it dies with the process). With several processes a
user holds at most `SOCKETS_PER_USER` in each. A count shared in Redis or the
database would need expiry to recover from a killed process, or a user would
stay locked out.
"""

from collections import Counter

from django.conf import settings


class OpenSockets:
    """Open sockets per user id in this process."""

    def __init__(self) -> None:
        self.by_user: Counter[int] = Counter()

    def take(self, user_id: int) -> bool:
        """Count one more socket for `user_id`, unless that would pass the cap."""
        if self.by_user[user_id] >= settings.SOCKETS_PER_USER:
            return False
        self.by_user[user_id] += 1
        return True

    def release(self, user_id: int) -> None:
        self.by_user[user_id] -= 1
        if self.by_user[user_id] <= 0:
            del self.by_user[user_id]


open_sockets = OpenSockets()

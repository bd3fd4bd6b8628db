"""Password hashers for tests only (never in production settings)."""

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingSlowHasher(MD5PasswordHasher):
    """MD5 (fast to make) whose verification takes as long as a real PBKDF2 check and records
    every passcode it was asked to verify, in order.

    The passcode cap is about how many passcodes are *checked*; with plain MD5 the race window
    between a check and its count is microseconds and a test could pass by luck. Slowing the
    check down to a realistic duration makes a check-then-count race show every time, and the
    record says exactly which passcodes reached the hash.
    """

    algorithm = "test_counting_slow_md5"
    seconds = 0.05
    checked: list[str] = []
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with self._lock:
            type(self).checked.append(password)
        time.sleep(self.seconds)
        return super().verify(password, encoded)

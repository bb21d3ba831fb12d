"""What the paho-mqtt test scripts share: failing with a message, waiting for a condition."""
import sys
import time


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def wait_until(condition, what, limit=5.0):
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")

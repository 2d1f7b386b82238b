"""What the SDK check scripts share: failing a check with a message, and
running a list of checks the same way (the first failure ends the run)."""

import sys

# Streaming checks skip the node's response cache, so that they see the
# upstream's own chunks rather than a replay.
BYPASS = {"x-hanzo-cache": "bypass"}


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual, expected, what):
    check(actual == expected, f"{what}: expected {expected!r}, got {actual!r}")


def run_checks(checks, api_error, done):
    """Runs `(name, function)` pairs in order. `api_error`: the SDK's error
    class for an error answer. Returns the process's exit code."""
    for name, run in checks:
        try:
            run()
        except CheckFailed as e:
            print(f"FAIL: {name}: {e}", file=sys.stderr)
            return 1
        except api_error as e:
            status = getattr(e, "status_code", None)
            print(f"FAIL: {name}: the node answered with an error (HTTP {status}): {e}", file=sys.stderr)
            return 1
        except Exception as e:  # noqa: BLE001 - any surprise is a failed check
            print(f"FAIL: {name}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    print(done)
    return 0

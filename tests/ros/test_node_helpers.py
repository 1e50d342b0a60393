"""main()'s lifecycle (run_node): a stop that shuts the context down mid-loop exits cleanly."""
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

# The context is shut down between the loop's rclpy.ok() check and the executor's next wait, as
# rclpy's signal thread does when SIGINT/SIGTERM lands at that instant (ros2/rclpy#398): before
# run_node handled it, the node died with "RCLError: ... the given context is not valid" and
# exit status 1 (seen in test_instruction_reaches_a_late_subscriber on a loaded machine).
SCRIPT = textwrap.dedent("""
    import rclpy
    from rclpy.node import Node
    from chatvla2.ros.node_helpers import run_node

    checks = []

    def keep_going():
        checks.append(1)
        if len(checks) == 3:
            rclpy.shutdown()  # what the signal thread does, at the worst moment
        return True

    run_node(lambda: Node("run_node_probe"), [], keep_going=keep_going)
    print("stopped after", len(checks), "checks")
""")


def test_a_shutdown_racing_the_executor_wait_is_a_clean_stop():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "stopped after 3 checks" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def test_a_real_runtime_error_still_surfaces():
    script = SCRIPT.replace("rclpy.shutdown()  # what the signal thread does, at the worst moment",
                            "raise RuntimeError('driver lost')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "RuntimeError: driver lost" in done.stderr, done.stderr

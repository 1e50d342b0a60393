"""main()'s lifecycle (run_node): a stop that shuts the context down mid-loop exits cleanly."""
import ast
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


GRAPH_SCRIPT = textwrap.dedent("""
    import sys, time
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(sys.argv[1]))
    node = rclpy.create_node("graph_probe", context=context)
    time.sleep(2.5)  # discovery of everything alive in the domain
    print(sorted(name for name, _ in node.get_topic_names_and_types()))
""")


def test_destroyed_lifecycle_nodes_leave_nothing_in_the_graph(rclpy_context, ros_domain):
    """rclpy's LifecycleNode.destroy_node keeps the state machine (and its ~/transition_event
    publisher) alive: before destroy_lifecycle_state_machine, a test run's in-process nodes stayed
    visible to every later test that drew the same DDS domain (a CI failure of test_namespaces)."""
    from chatvla2.ros.arm_controller_node import ArmControllerNode
    from chatvla2.ros.inference_node import InferenceNode

    nodes = [InferenceNode(context=rclpy_context),
             ArmControllerNode(context=rclpy_context)]
    for node in nodes:
        node.destroy_node()
    seen = subprocess.run([sys.executable, "-c", GRAPH_SCRIPT, ros_domain], capture_output=True, text=True,
                          timeout=60)
    assert seen.returncode == 0, seen.stderr
    topics = ast.literal_eval(seen.stdout.strip().splitlines()[-1])
    left = [t for t in topics if t not in ("/rosout", "/parameter_events")]
    assert left == [], f"topics of destroyed nodes still in the graph: {left}"

"""Test double standing in for franka_ros2 (frankarobotics/franka_ros2 v2.5.0 / v3.4.0: the arm we
do not have), speaking its interfaces as its source defines them:

- the arm: fr3_arm_controller, a JointTrajectoryController on fr3_joint1..7, takes trajectories on
  /fr3_arm_controller/joint_trajectory (franka_fr3_moveit_config/config/fr3_ros_controllers.yaml;
  the JTC's `~/joint_trajectory` topic, SystemDefaultsQoS); joint_state_broadcaster publishes
  the arm joints on /franka/joint_states (franka.launch.py remaps `joint_states` there; it runs
  in the 1 kHz controller manager, so up to 1 kHz);
- the Hand: franka_gripper_node publishes fr3_finger_joint1/2 on /franka_gripper/joint_states,
  each finger at width / 2 (gripper_action_server.cpp), 15 Hz (franka_gripper_node.yaml
  state_publish_rate), depth 1; serves ~/move, ~/grasp, ~/homing (franka_msgs actions) and ~/stop
  (std_srvs/Trigger). With --fake-hardware it is fake_gripper_state_publisher.py instead: a fixed
  0.035 m per finger at 10 Hz, no actions, no stop service;
- joint_state_publisher merges the two sources into /joint_states at 30 Hz (franka.launch.py,
  joint_state_rate 30; depth 10).

Prints one JSON line per gripper goal, per stop call and per 100 trajectory commands, and on exit
a summary with every command's largest joint step.
"""
import argparse
import json
import signal
import sys
import threading

import numpy as np
import rclpy
from franka_msgs.action import Grasp, Homing, Move
from rclpy.action import ActionServer
from rclpy.executors import MultiThreadedExecutor
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

ARM = [f"fr3_joint{i}" for i in range(1, 8)]
FINGERS = ["fr3_finger_joint1", "fr3_finger_joint2"]
HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-hardware", action="store_true")
    parser.add_argument("--arm-rate-hz", type=float, default=1000.0)
    parser.add_argument("--width", type=float, default=0.08, help="the Hand's opening at start (m)")
    options = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node("franka_ros2_stand_in")
    arm = {"positions": np.array(HOME), "width": 0.07 if options.fake_hardware else options.width, "commands": 0,
           "largest_step_rad": 0.0, "joint_names_seen": []}

    said = threading.Lock()

    def say(**fields) -> None:
        # One whole line per event: print() from two executor threads can interleave two objects
        # on one line (the tests read this log line by line as JSON).
        with said:
            sys.stdout.write(json.dumps(fields) + "\n")
            sys.stdout.flush()

    if not options.fake_hardware:
        def finish(kind, width_of):
            def execute(handle):
                goal = handle.request
                fields = {"goal": kind}
                if kind != "homing":
                    fields.update(width=goal.width, speed=goal.speed)
                if kind == "grasp":
                    fields.update(force=goal.force, epsilon=[goal.epsilon.inner, goal.epsilon.outer])
                say(**fields)
                arm["width"] = width_of(goal)
                handle.succeed()
                return {"move": Move, "grasp": Grasp, "homing": Homing}[kind].Result(success=True)
            return execute

        ActionServer(node, Move, "/franka_gripper/move", finish("move", lambda g: g.width))
        ActionServer(node, Grasp, "/franka_gripper/grasp", finish("grasp", lambda g: g.width))
        ActionServer(node, Homing, "/franka_gripper/homing", finish("homing", lambda g: 0.08))

        def on_stop(_request, response):
            say(gripper_stop=True)
            response.success = True
            return response

        node.create_service(Trigger, "/franka_gripper/stop", on_stop)

    def on_command(msg: JointTrajectory) -> None:
        by_name = dict(zip(msg.joint_names, msg.points[-1].positions))
        if sorted(by_name) != sorted(ARM):  # the JTC refuses a trajectory for other joints
            say(refused=list(msg.joint_names))
            return
        target = np.array([by_name[n] for n in ARM])
        arm["largest_step_rad"] = max(arm["largest_step_rad"], float(np.max(np.abs(target - arm["positions"]))))
        arm["positions"] = target
        arm["commands"] += 1
        if arm["commands"] % 100 == 1:
            say(trajectory=list(msg.joint_names), count=arm["commands"])

    # SystemDefaultsQoS as the JTC (reliable, volatile), but a deep queue: this Python process can
    # stall for a fraction of a second on the loaded machine, and a lost setpoint would read as a
    # jump in the summary's largest step (the C++ controller keeps up).
    node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory", on_command, 100000)
    arm_states = node.create_publisher(JointState, "/franka/joint_states", 10)
    hand_states = node.create_publisher(JointState, "/franka_gripper/joint_states", 1)
    merged = node.create_publisher(JointState, "/joint_states", 10)

    def state(names, positions) -> JointState:
        msg = JointState(name=names, position=[float(p) for p in positions], velocity=[0.0] * len(names),
                         effort=[0.0] * len(names))
        msg.header.stamp = node.get_clock().now().to_msg()
        return msg

    def fingers() -> list[float]:
        return [0.035, 0.035] if options.fake_hardware else [arm["width"] / 2] * 2

    node.create_timer(1.0 / options.arm_rate_hz, lambda: arm_states.publish(state(ARM, arm["positions"])))
    node.create_timer(0.1 if options.fake_hardware else 1.0 / 15.0,
                      lambda: hand_states.publish(state(FINGERS, fingers())))
    node.create_timer(1.0 / 30.0, lambda: merged.publish(state(ARM + FINGERS, list(arm["positions"]) + fingers())))

    signal.signal(signal.SIGTERM, lambda *_: rclpy.try_shutdown())
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        say(summary=True, commands=arm["commands"], largest_step_rad=arm["largest_step_rad"],
            final_positions=arm["positions"].tolist(), width=arm["width"])
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

"""Arm controller node: action chunks in, safety-filtered joint commands out at the control rate.

Commands go to a JointTrajectoryController-style topic (one point, reached in one period), which
the simulated arm and franka_ros2's joint trajectory controller both accept. Starts in dry-run
when `dry_run` is true: it computes and publishes on `~/would_command`, and sends nothing.
"""
from __future__ import annotations

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import seconds_to_duration, trajectory_to_chunk
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS


class ArmControllerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("arm_controller", **kwargs)
        robot = load_robot_spec(declare(self, "robot", "franka_fr3", "Robot description name or YAML path"))
        rate_hz = declare(self, "control_rate_hz", 100.0, "Setpoints per second")
        config = ControllerConfig(
            control_period_s=1.0 / rate_hz,
            chunk_timeout_s=declare(self, "chunk_timeout_s", 0.5, "Hold when no chunk arrived for this long"),
            joint_state_timeout_s=declare(self, "joint_state_timeout_s", 0.2, "Hold when the joint state is older"),
            position_margin_rad=declare(self, "position_margin_rad", 0.05, "Keep this far inside joint limits"))
        command_topic = declare(self, "command_topic", "/fr3_arm_controller/joint_trajectory",
                                "JointTrajectory topic of the arm driver")
        self.dry_run = declare(self, "dry_run", False, "Compute and publish on ~/would_command, send nothing")
        self.core = ArmController(robot, config)
        self.period_s = config.control_period_s
        self.create_subscription(JointTrajectory, "/chatvla/action_chunk", self.on_chunk, COMMAND_QOS)
        self.create_subscription(JointState, "/joint_states", self.on_joint_state, SENSOR_QOS)
        topic = "~/would_command" if self.dry_run else command_topic
        self.command_pub = self.create_publisher(JointTrajectory, topic, COMMAND_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.create_service(Trigger, "/chatvla/stop", self.on_stop)
        self.create_service(Trigger, "/chatvla/resume", self.on_resume)
        self.create_timer(self.period_s, self.on_tick)
        self.create_timer(1.0, self.publish_diagnostics)
        mode = "DRY-RUN (sending nothing)" if self.dry_run else f"commanding {command_topic}"
        self.get_logger().info(f"{robot.name} controller at {rate_hz} Hz, {mode}")

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_joint_state(self, msg: JointState) -> None:
        self.core.on_joint_state(list(msg.name), np.asarray(msg.position, dtype=float), self.now_s())

    def on_chunk(self, msg: JointTrajectory) -> None:
        try:
            reason = self.core.on_chunk(trajectory_to_chunk(msg), self.now_s())
        except ValueError as error:
            self.core.interventions["rejected chunk"] += 1
            reason = str(error)
        if reason:
            self.get_logger().warn(f"rejected action chunk: {reason}", throttle_duration_sec=2.0)

    def on_tick(self) -> None:
        step = self.core.tick(self.now_s())
        if step.command is None:
            return
        msg = JointTrajectory()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.joint_names = list(self.core.names)
        msg.points = [JointTrajectoryPoint(positions=step.command.tolist(),
                                           time_from_start=seconds_to_duration(self.period_s))]
        self.command_pub.publish(msg)

    def on_stop(self, _request, response):
        self.core.stop()
        self.get_logger().warn("STOP: arm holding until /chatvla/resume")
        response.success, response.message = True, "stopped; holding position until resume"
        return response

    def on_resume(self, _request, response):
        self.core.resume()
        self.get_logger().info("resumed")
        response.success, response.message = True, "resumed"
        return response

    def publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name="chatvla2: arm_controller", hardware_id=self.core.robot.name)
        status.level = DiagnosticStatus.WARN if self.core.stopped else DiagnosticStatus.OK
        status.message = "stopped" if self.core.stopped else ("dry-run" if self.dry_run else "running")
        status.values = [KeyValue(key=f"interventions: {reason}", value=str(count))
                         for reason, count in sorted(self.core.interventions.items())]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    run_node(ArmControllerNode, args)

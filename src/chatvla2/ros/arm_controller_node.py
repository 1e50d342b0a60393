"""Arm controller node: action chunks in, safety-filtered setpoints out at the control rate,
through the driver plug-in the `driver` parameter names (sim | franka_ros2 | arx_r5, or one that
another package registers in the entry-point group chatvla2.drivers).

Dry-run interlock: with `dry_run` true (the default; real robots) it computes and publishes on
~/would_command what it would send and sends nothing until the operator calls /chatvla/enable.
/chatvla/stop freezes the command on the next period and latches; /chatvla/resume releases it
only from a safe state. Interventions are counted by reason on /diagnostics. The driver connects
on the first period (like a lifecycle node's configure), so building the node touches no hardware.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Empty
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.gate import GateConfig
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.safety import SafetyConfig
from chatvla2.ros.conversions import (ChunkTooLong, max_serialized_chunk_bytes, node_now_s,
                                     trajectory_to_chunk)
from chatvla2.ros.drivers import available_drivers, load_driver
from chatvla2.ros.joint_messages import trajectory_point
from chatvla2.ros.node_helpers import declare, run_node, unknown_parameter_problem
from chatvla2.ros.qos import COMMAND_QOS

# Parameters `ros2 param set` may change while the arm runs; every other one is read-only.
LIVE_PARAMETERS = frozenset({"velocity_scale", "acceleration_scale", "max_step_rad", "chunk_timeout_s"})
SAFETY_FIELDS = ("velocity_scale", "acceleration_scale", "max_step_rad")

# Hold reasons worth one log line when they start (the filter's clamping is counted, not logged).
HOLD_REASONS = ("no chunk to play", "chunk timeout", "joint state stale", "stop latched", "workspace box",
                "heartbeat lost")
# Stop and heartbeat messages must not be lost: reliable, a few kept for a late subscriber match.
STOP_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class ArmControllerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("arm_controller", **kwargs)
        # Read-only unless listed in LIVE_PARAMETERS: those apply from the next control period.
        d = lambda name, default, text, **kw: declare(self, name, default, text, read_only=name not in LIVE_PARAMETERS, **kw)  # noqa: E731
        robot = load_robot_spec(d("robot", "franka_fr3", "Robot description name or YAML path"))
        self.driver_name = d("driver", "sim", "Arm driver plug-in (entry-point group chatvla2.drivers): "
                             + " | ".join(sorted(available_drivers())))
        self.plugin = load_driver(self.driver_name)  # its parameters are declared below
        rate_hz = d("control_rate_hz", 100.0, "Setpoints per second (Hz)", low=1.0, high=1000.0)
        self.config = ControllerConfig(
            control_period_s=1.0 / rate_hz,
            chunk_timeout_s=d("chunk_timeout_s", 0.5, "Watchdog: hold when no chunk arrived for this long (s); live", low=0.01, high=10.0),
            joint_state_timeout_s=d("joint_state_timeout_s", 0.2, "Hold when the joint state is older (s)", low=0.001, high=5.0),
            execution_mode=d("execution_mode", "latest", "Chunk execution: latest | ensemble | handover | rtc (pair with the inference node's rtc_enabled)"),
            ensemble_decay=d("ensemble_decay", 0.01, "ACT ensembling weight exp(-k i), i = 0 oldest", low=0.0, high=10.0),
            handover_s=d("handover_s", 0.2, "Cross-fade between chunks in handover mode (s)", low=0.0, high=5.0),
            actuation_latency_s=d("actuation_latency_s", 0.0, "Command the target due this much later (s)", low=0.0, high=1.0),
            resume_tolerance_rad=d("resume_tolerance_rad", 0.05, "Resume/enable only this close to the held command", low=0.0, high=0.5),
            dry_run=d("dry_run", True, "Start with actuation disabled until /chatvla/enable"),
            heartbeat_timeout_s=d("heartbeat_timeout_s", 0.0, "Deadman: hold when nothing arrived on heartbeat_topic for this long (s); 0 disables", low=0.0, high=10.0),
            gate=GateConfig(
                max_observation_age_s=d("max_observation_age_s", 1.0, "Reject chunks answering older observations (s)", low=0.0, high=30.0),
                future_tolerance_s=d("future_tolerance_s", 0.05, "Reject chunks stamped further in the future (s)", low=0.0, high=1.0),
                max_first_jump_rad=d("max_first_jump_rad", 0.3, "Reject chunks starting further from the arm (rad)", low=0.0, high=1.0)),
            safety=SafetyConfig(
                position_margin_rad=d("position_margin_rad", 0.05, "Keep this far inside joint limits (rad)", low=0.0, high=0.5),
                velocity_scale=d("velocity_scale", 1.0, "Fraction of the joint velocity limits; live", low=0.001, high=1.0),
                acceleration_scale=d("acceleration_scale", 1.0, "Fraction of the acceleration and jerk limits; live", low=0.001, high=1.0),
                max_step_rad=d("max_step_rad", 0.05, "Largest joint step per control period (rad); live", low=0.0001, high=0.2)))
        self.driver_params = {name: d(name, default, f"{self.driver_name}: {text}")
                              for name, (default, text) in self.plugin.parameters.items()}
        self.home_gripper_on_enable = d("home_gripper_on_enable", True, "Home the gripper when actuation is enabled")
        chunk_topic = d("chunk_topic", "chatvla/action_chunk", "JointTrajectory action chunks")
        stop_topic = d("stop_topic", "chatvla/stop", "Any std_msgs/Empty here stops the arm like the stop service (a joystick button, a GUI)")
        heartbeat_topic = d("heartbeat_topic", "chatvla/heartbeat", "std_msgs/Empty deadman heartbeat, read when heartbeat_timeout_s > 0")
        self.max_chunk_points = d("max_chunk_points", 64, "Longer chunks are rejected unread (the model's horizon 16 x a margin of 4)", low=1, high=100000)
        self.max_chunk_bytes = max_serialized_chunk_bytes(robot.command_names, self.max_chunk_points)
        diagnostics_period_s = d("diagnostics_period_s", 0.5, "Seconds between /diagnostics messages", low=0.01, high=60.0)
        problem = unknown_parameter_problem(self)
        if problem:
            raise ValueError(problem)
        self.robot = robot
        self.core = ArmController(robot, self.config)
        self.driver = None
        self.holding: set[str] = set()
        self.rejection_logged_s: dict[str, float] = {}
        # Raw bytes: an oversized chunk is refused by its length, never deserialized in the loop's thread.
        self.create_subscription(JointTrajectory, chunk_topic, self.on_chunk_bytes, COMMAND_QOS, raw=True)
        self.would_command_pub = self.create_publisher(JointTrajectory, "~/would_command", COMMAND_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.create_service(Trigger, "chatvla/stop", self.on_stop)
        self.create_subscription(Empty, stop_topic, self.on_stop_message, STOP_QOS)
        if self.config.heartbeat_timeout_s > 0:
            self.create_subscription(Empty, heartbeat_topic, lambda _msg: self.core.on_heartbeat(self.now_s()), STOP_QOS)
        self.create_service(Trigger, "chatvla/resume", self.on_resume)
        self.create_service(Trigger, "chatvla/enable", self.on_enable)
        self.create_timer(self.config.control_period_s, self.on_tick)
        self.create_timer(diagnostics_period_s, self.publish_diagnostics)
        self.add_on_set_parameters_callback(self.on_set_parameters)  # after every declaration
        mode = "DRY-RUN: sending nothing until /chatvla/enable" if self.config.dry_run else "actuating"
        self.get_logger().info(f"{robot.name} via {self.driver_name} at {rate_hz} Hz, "
                               f"{self.config.execution_mode} chunks, {mode}")

    def now_s(self) -> float:
        return node_now_s(self)

    def on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """`ros2 param set` of a live parameter: validated, then applied from the next period (this
        runs in the executor thread, between control ticks). Read-only ones ROS refuses itself."""
        values = {p.name: p.value for p in parameters}
        frozen = sorted(set(values) - LIVE_PARAMETERS)
        if frozen:
            return SetParametersResult(successful=False, reason=f"{frozen} cannot change while running; "
                                       f"live: {sorted(LIVE_PARAMETERS)}")
        safety = self.config.safety
        try:
            safety = replace(safety, **{k: float(v) for k, v in values.items() if k in SAFETY_FIELDS})
            timeout_s = float(values.get("chunk_timeout_s", self.config.chunk_timeout_s))
            self.core.retune(safety, timeout_s)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.config = self.core.config
        self.get_logger().warning(f"live parameters applied from the next period: {values}")
        return SetParametersResult(successful=True)

    def on_chunk_bytes(self, data: bytes) -> None:
        if len(data) > self.max_chunk_bytes:
            self.core.interventions["rejected chunk: too long"] += 1
            self.log_rejection("too long", f"too long: {len(data)} bytes, more than {self.max_chunk_points} points "
                                           f"can take ({self.max_chunk_bytes} bytes; max_chunk_points)")
            return
        try:
            msg = deserialize_message(data, JointTrajectory)
        except Exception as error:  # rclpy raises several types for bytes that are no JointTrajectory
            self.core.interventions["rejected chunk: malformed"] += 1
            self.log_rejection("malformed", f"malformed: cannot deserialize: {error}")
            return
        self.on_chunk(msg)

    def on_chunk(self, msg: JointTrajectory) -> None:
        category = "malformed"
        try:
            reason = self.core.on_chunk(trajectory_to_chunk(msg, self.max_chunk_points), self.now_s())
            category = self.core.last_rejection.category if reason else category
        except ValueError as error:
            category = "too long" if isinstance(error, ChunkTooLong) else "malformed"
            self.core.interventions[f"rejected chunk: {category}"] += 1
            reason = f"{category}: {error}"
        if reason:
            self.log_rejection(category, reason)

    def log_rejection(self, category: str, reason: str) -> None:
        # One line per kind of rejection per second: a burst cannot flood the log or hide a new kind.
        if self.now_s() - self.rejection_logged_s.get(category, -np.inf) > 1.0:
            self.rejection_logged_s[category] = self.now_s()
            self.get_logger().warning(f"rejected action chunk: {reason}")

    def on_tick(self) -> None:
        if self.driver is None:
            self.driver = self.plugin.make(self, self.robot, self.driver_params)
        reading = self.driver.read_joint_state()
        if reading is not None and reading.received_s > self.core.measured_at_s:
            problem = self.core.on_joint_state(list(reading.names), reading.positions, reading.received_s)
            if problem:
                self.get_logger().error(f"joint state refused: {problem}", throttle_duration_sec=2.0)
        step = self.core.tick(self.now_s())
        self.log_hold_changes(step.reasons)
        if step.command is None:
            return
        if self.core.actuation_enabled:
            self.driver.send_setpoint(step.command, self.config.control_period_s)
        else:
            self.would_command_pub.publish(trajectory_point(
                list(self.core.names), step.command, self.config.control_period_s, self))

    def log_hold_changes(self, reasons: list[str]) -> None:
        holding = {reason for reason in reasons if reason in HOLD_REASONS}
        for reason in sorted(holding - self.holding):
            self.get_logger().warning(f"HOLD: {reason}; arm holding position")
        if self.holding and not holding:
            self.get_logger().info("following action chunks again")
        self.holding = holding

    def stop(self, source: str) -> None:
        self.core.stop()
        if self.driver is not None:
            self.driver.stop()
        self.get_logger().warning(f"STOP ({source}): command frozen until /chatvla/resume")

    def on_stop(self, _request, response):
        self.stop("service")
        response.success, response.message = True, "stopped; holding position until resume"
        return response

    def on_stop_message(self, _msg: Empty) -> None:
        self.stop("topic")

    def on_resume(self, _request, response):
        problem = self.core.resume(self.now_s())
        self.get_logger().info("resumed" if problem is None else f"resume refused: {problem}")
        response.success, response.message = problem is None, problem or "resumed"
        return response

    def on_enable(self, _request, response):
        problem = self.core.enable(self.now_s())
        if problem is None and self.driver is not None and self.home_gripper_on_enable:
            self.driver.home_gripper()
        self.get_logger().warning("ACTUATION ENABLED: commands go to the arm" if problem is None
                               else f"enable refused: {problem}")
        response.success, response.message = problem is None, problem or "actuation enabled"
        return response

    def destroy_node(self) -> None:
        """Any shutdown (Ctrl-C, SIGTERM, the launcher's stop) ends with the driver's stop: the arm
        holds its last setpoint (franka_ros2's trajectory controller keeps it; the ARX SDK gets its
        measured joints) and the gripper stops. rclpy calls this before the context goes down."""
        driver, self.driver = self.driver, None
        if driver is not None:
            try:
                driver.stop()
                self.get_logger().warning("shutdown: driver stopped, arm holding position")
            except Exception as error:  # the process is ending: report, never mask the shutdown
                self.get_logger().error(f"shutdown: driver stop failed: {error}")
        super().destroy_node()

    def publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name="chatvla2: arm_controller", hardware_id=self.robot.name)
        if self.core.stopped or self.holding:
            status.level = DiagnosticStatus.WARN
        else:
            status.level = DiagnosticStatus.OK
        state = "stopped" if self.core.stopped else ("holding: " + ", ".join(sorted(self.holding))
                                                     if self.holding else "following chunks")
        status.message = f"{state}; {'actuating' if self.core.actuation_enabled else 'dry-run'}"
        status.values = [KeyValue(key=f"interventions: {reason}", value=str(count))
                         for reason, count in sorted(self.core.interventions.items())]
        status.values.append(KeyValue(key="driver", value=self.driver_name))
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    run_node(ArmControllerNode, args)

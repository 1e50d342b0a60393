"""Arm controller node (a ROS 2 lifecycle node): action chunks in, safety-filtered setpoints out
at the control rate, through the driver plug-in the `driver` parameter names (sim | franka_ros2 |
arx_r5, or one that another package registers in the entry-point group chatvla2.drivers).

    unconfigured --configure--> inactive (DRY RUN) --activate--> active (ACTUATING)
         ^                        |   ^                              |
         +-------cleanup----------+   +----------deactivate----------+
    configure: makes the controller core and the driver (which connects the hardware), the
               subscriptions and the control loop; the loop runs in dry run: it publishes
               ~/would_command and sends nothing. activate = /chatvla/enable: refused unless the
               arm is in a safe state; homes the gripper. deactivate: back to dry run, the driver
               holds. cleanup: stops and disconnects the driver.
`main()` configures at start, and activates at once only where `dry_run` is false (simulation).
/chatvla/stop (service or std_msgs/Empty topic) freezes the command on the next period and
latches in any state; /chatvla/resume releases it only from a safe state. Interventions are
counted by reason on /diagnostics. Parameters: see LIVE_PARAMETERS for what `ros2 param set`
changes while running; every other parameter is read-only.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message
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
from chatvla2.ros.node_helpers import declare, destroy_lifecycle_state_machine, run_node, unknown_parameter_problem
from chatvla2.ros.qos import COMMAND_QOS

# Parameters `ros2 param set` may change while the arm runs; every other one is read-only.
LIVE_PARAMETERS = frozenset({"velocity_scale", "acceleration_scale", "max_step_rad", "chunk_timeout_s"})
SAFETY_FIELDS = ("velocity_scale", "acceleration_scale", "max_step_rad")

# Hold reasons worth one log line when they start (the filter's clamping is counted, not logged).
HOLD_REASONS = ("no chunk to play", "chunk timeout", "joint state stale", "stop latched", "workspace box",
                "heartbeat lost")


class ArmControllerNode(LifecycleNode):
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
        self.topics = {"chunks": chunk_topic, "stop": stop_topic, "heartbeat": heartbeat_topic}
        self.core: ArmController | None = None  # made in on_configure, freed in on_cleanup
        self.driver = None
        self.resources: list = []  # subscriptions, publishers and the control timer of a configuration
        self.last_enable_problem = ""
        self.activate_when_safe = False  # dry_run false: main() activates once a safe state is measured
        self.holding: set[str] = set()
        self.rejection_logged_s: dict[str, float] = {}
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.create_service(Trigger, "chatvla/stop", self.on_stop)
        self.create_service(Trigger, "chatvla/resume", self.on_resume)
        self.create_service(Trigger, "chatvla/enable", self.on_enable)
        self.create_timer(diagnostics_period_s, self.publish_diagnostics)
        self.add_on_set_parameters_callback(self.on_set_parameters)  # after every declaration
        self.get_logger().info(f"{robot.name} via {self.driver_name} at {rate_hz} Hz, "
                               f"{self.config.execution_mode} chunks; unconfigured")

    # Lifecycle: unconfigured -> inactive (dry run: would_command only) -> active (actuating) ----
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.core = ArmController(self.robot, replace(self.config, dry_run=True))
            self.driver = self.plugin.make(self, self.robot, self.driver_params)
            self.driver.connect()  # the hardware link: topics and actions, or the CAN bus
        except (ImportError, OSError, ValueError, RuntimeError) as error:
            self.get_logger().error(f"configure failed: {error}")
            if self.driver is not None:
                self.driver.close()
            self.core = self.driver = None
            return TransitionCallbackReturn.FAILURE
        # Raw bytes: an oversized chunk is refused by its length, never deserialized in the loop's thread.
        self.resources = [
            self.create_subscription(JointTrajectory, self.topics["chunks"], self.on_chunk_bytes, COMMAND_QOS, raw=True),
            self.create_subscription(Empty, self.topics["stop"], self.on_stop_message, COMMAND_QOS),
            self.create_timer(self.config.control_period_s, self.on_tick)]
        if self.config.heartbeat_timeout_s > 0:
            self.resources.append(self.create_subscription(
                Empty, self.topics["heartbeat"], lambda _msg: self.core.on_heartbeat(self.now_s()), COMMAND_QOS))
        self.would_command_pub = self.create_publisher(JointTrajectory, "~/would_command", COMMAND_QOS)
        self.resources.append(self.would_command_pub)
        self.get_logger().info("configured: DRY-RUN, publishing ~/would_command and sending nothing until "
                               "/chatvla/enable (or the lifecycle's activate)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        problem = self.core.enable(self.now_s())
        if problem is not None:
            self.last_enable_problem = problem
            self.get_logger().warning(f"enable refused: {problem}")
            return TransitionCallbackReturn.FAILURE
        if self.home_gripper_on_enable:
            self.driver.home_gripper()
        self.get_logger().warning("ACTUATION ENABLED: commands go to the arm")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.disable()
        self.driver.stop()
        self.get_logger().warning("deactivated: DRY-RUN again, the arm holds its last setpoint")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def release(self) -> None:
        """Stop and disconnect the driver, then free what on_configure made."""
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.stop()
            driver.close()
        for resource in self.resources:
            destroy = {"Subscription": self.destroy_subscription, "Publisher": self.destroy_publisher,
                       "Timer": self.destroy_timer}[type(resource).__name__]
            destroy(resource)
        self.resources, self.core = [], None

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
            config = replace(self.config, safety=safety, chunk_timeout_s=timeout_s)  # validates
            if self.core is not None:
                self.core.retune(safety, timeout_s)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.config = config
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
        if self.core is None or self.driver is None:
            return
        reading = self.driver.read_joint_state()
        if reading is not None and reading.received_s > self.core.measured_at_s:
            problem = self.core.on_joint_state(list(reading.names), reading.positions, reading.received_s)
            if problem:
                self.get_logger().error(f"joint state refused: {problem}", throttle_duration_sec=2.0)
        if self.activate_when_safe and self.core.safe_state_problem(self.now_s(), check_settled=False) is None:
            self.activate_when_safe = False
            self.trigger_activate()
            if self.core is None:
                return
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
        if self.core is None:
            self.get_logger().warning(f"STOP ({source}): not configured, nothing moves")
            return
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
        problem = "not configured" if self.core is None else self.core.resume(self.now_s())
        self.get_logger().info("resumed" if problem is None else f"resume refused: {problem}")
        response.success, response.message = problem is None, problem or "resumed"
        return response

    def on_enable(self, _request, response):
        """The operator's enable is the lifecycle's activate (refused unless in a safe state)."""
        if self.core is None:
            response.success, response.message = False, "not configured"
        elif self.core.actuation_enabled:
            response.success, response.message = True, "already actuating"
        else:
            self.last_enable_problem = "activate failed"
            ok = self.trigger_activate() == TransitionCallbackReturn.SUCCESS
            response.success, response.message = ok, "actuation enabled" if ok else self.last_enable_problem
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
        destroy_lifecycle_state_machine(self)

    def publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name="chatvla2: arm_controller", hardware_id=self.robot.name)
        if self.core is None:
            status.level, status.message = DiagnosticStatus.WARN, "unconfigured: nothing moves"
            array = DiagnosticArray(status=[status])
            array.header.stamp = self.get_clock().now().to_msg()
            self.diagnostics_pub.publish(array)
            return
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


def start_controller(node: ArmControllerNode) -> None:
    """configure (dry run); where dry_run is false (simulation), activate once the arm's first
    joint state shows a safe state."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise RuntimeError("arm controller failed to configure (see the log above)")
    node.activate_when_safe = not node.config.dry_run


def main(args: list[str] | None = None) -> None:
    run_node(ArmControllerNode, args, prepare=start_controller)

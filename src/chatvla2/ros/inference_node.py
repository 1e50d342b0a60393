"""Inference node (ROS 2 lifecycle node): camera frames + joint state + instruction -> reasoning
text + action chunk.

    unconfigured --configure--> inactive --activate--> active --deactivate--> inactive
         ^                         |                                              |
         +--------cleanup----------+ (frees the model)                            ...
    configure: builds the policy from the `policy` parameter (a local checkpoint directory, or
               'placeholder'); a missing directory fails the transition with a clear error. Then
               warms it up (`policy/warmup.py`: full inferences on a dummy observation of the
               configured cameras and robot) and logs how long that took, so the first real frame
               after activate is answered at steady-state speed, not thrown away as stale.
    activate:  resets the policy and starts the inference thread; deactivate stops it (nothing
               is published while inactive); cleanup frees the model.

Parameters are read at every configure (cleanup, `ros2 param set /inference policy ...`,
configure loads the new policy); a parameter-file key the node does not declare fails configure.
Each new frame of the first camera in `camera_names` triggers one observation built from the
newest frame of every camera and the newest robot state; the robot state is assembled from the
JointState topics in `joint_state_topics` by the robot's one state path
(chatvla2/control/robot_state.py: franka_ros2's two finger joints become the opening); anything
older than `max_observation_age_s` is dropped, never queued. The chunk is published stamped with
the observation time; a chunk that comes back older than `max_observation_age_s` is dropped and
counted (`late_chunk_drops`), never published for the controller to refuse. Model errors
(exceptions, NaN/Inf) are reported on /diagnostics and no chunk is published for that frame. With `autostart` (default true) `main()` configures and activates the
node itself, so a plain `ros2 run` or launch infers without a lifecycle manager.
"""
from __future__ import annotations

import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.imaging.compressed import decode_compressed
from chatvla2.imaging.encoding import to_rgb8
from chatvla2.policy.observation_buffer import ObservationBuffer
from chatvla2.policy.reasoning_scheduler import ReasoningScheduleConfig
from chatvla2.policy.runtime import RuntimeConfig
from chatvla2.policy.loading import close_policy, load_policy
from chatvla2.policy.realtime_chunking import RtcConfig
from chatvla2.policy.runtime_stats import InferenceStats
from chatvla2.policy.warmup import DEFAULT_WARM_UP_IMAGE_SIZE_PX, warm_up, warm_up_observation
from chatvla2.ros.conversions import chunk_to_trajectory, node_now_s, seconds_to_time, time_to_seconds
from chatvla2.ros.image_conversion import image_msg_to_array
from chatvla2.ros.node_helpers import declare, destroy_lifecycle_state_machine, run_node, unknown_parameter_problem
from chatvla2.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
DIAGNOSTIC_NAME = "chatvla2: inference"
REASONING_NAME = "chatvla2: reasoning"
PARAMETER_ATTRIBUTES = (  # node attribute <- parameter, read at every configure
    ("robot_name", "robot"),
    ("policy_spec", "policy"),
    ("device", "device"),
    ("torch_threads", "torch_threads"),
    ("camera_names", "camera_names"),
    ("camera_transports", "camera_transports"),
    ("joint_state_topics", "joint_state_topics"),
    ("instruction", "instruction"),
    ("max_observation_age_s", "max_observation_age_s"),
    ("runtime_mode", "runtime_mode"),
    ("refresh_every_frames", "refresh_every_frames"),
    ("scene_change_threshold", "scene_change_threshold"),
    ("max_reasoning_tokens", "max_reasoning_tokens"),
    ("rtc_enabled", "rtc_enabled"),
    ("rtc_min_delay_steps", "rtc_min_delay_steps"),
    ("rtc_max_delay_steps", "rtc_max_delay_steps"),
    ("rtc_max_first_jump_rad", "rtc_max_first_jump_rad"),
    ("warm_up_rounds", "warm_up_rounds"),
    ("warm_up_image_size_px", "warm_up_image_size_px"),
)


class InferenceNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("inference", **kwargs)
        self.robot_name = declare(self, "robot", "franka_fr3", "Robot description name or YAML path")
        self.policy_spec = declare(self, "policy", "placeholder", "'placeholder' or a local model directory")
        self.device = declare(self, "device", "cpu", "Torch device of the model: cpu or cuda")
        self.torch_threads = declare(self, "torch_threads", 1, "Torch CPU threads (0: torch's default); the node's executor needs a core too")
        self.camera_names = list(declare(self, "camera_names", ["front"], "Cameras fed to the policy; the first triggers inference"))
        self.camera_transports = list(declare(self, "camera_transports", [""], "Per camera in camera_names: raw (sensor_msgs/Image on cameras/<name>/image_raw) or compressed (sensor_msgs/CompressedImage, JPEG/PNG, on cameras/<name>/image_raw/compressed); [''] means raw for all"))
        self.joint_state_topics = list(declare(self, "joint_state_topics", ["joint_states"], "sensor_msgs/JointState topics that together carry the robot's state (franka_ros2 merges arm and hand on /joint_states)"))
        self.instruction = declare(self, "instruction", "pick the card that answers the equation", "Task until one arrives on the instruction topic")
        self.max_observation_age_s = declare(self, "max_observation_age_s", 0.5, "Frames or joint states older than this (s) are dropped, not used")
        self.runtime_mode = declare(self, "runtime_mode", "async", "async: reasoning refreshed in the background (refresh_every_frames, scene_change_threshold); sync: reason then act every frame")
        self.refresh_every_frames = declare(self, "refresh_every_frames", 30, "Regenerate the reasoning at least every this many frames (0: only when an instruction arrives)")
        self.scene_change_threshold = declare(self, "scene_change_threshold", 0.08, "Mean grey change (0..1) that triggers new reasoning; <= 0 disables")
        self.max_reasoning_tokens = declare(self, "max_reasoning_tokens", 48, "Tokens generated per reasoning")
        self.rtc_enabled = declare(self, "rtc_enabled", False, "Real-time chunking: freeze the rows executed while a chunk is computed (controller execution_mode rtc)")
        self.rtc_min_delay_steps = declare(self, "rtc_min_delay_steps", 1, "RTC: fewest rows frozen (covers transport and actuation latency)")
        self.rtc_max_delay_steps = declare(self, "rtc_max_delay_steps", 8, "RTC: most rows frozen")
        self.rtc_max_first_jump_rad = declare(self, "rtc_max_first_jump_rad", 0.3, "RTC: freeze nothing when the measured joints are further than this (rad) from the previous chunk (the controller's max_first_jump_rad: the arm is not executing it)")
        self.warm_up_rounds = declare(self, "warm_up_rounds", 2, "Full inferences on a dummy observation at configure (0: none)")
        self.warm_up_image_size_px = list(declare(self, "warm_up_image_size_px", list(DEFAULT_WARM_UP_IMAGE_SIZE_PX), "Dummy frame size [height, width] (px): the cameras' size"))
        self.autostart = declare(self, "autostart", True, "main() configures and activates the node itself (no lifecycle manager needed)")
        diagnostics_period_s = declare(self, "diagnostics_period_s", 1.0, "Period of /diagnostics reports (s)")
        self.policy = None
        self.robot_state: RobotStateAssembler | None = None
        self.warm_up_report = None
        self.buffer: ObservationBuffer | None = None
        self.stats = InferenceStats()
        self.status_message = "unconfigured"
        self.subscriptions_made: list = []
        self.worker: threading.Thread | None = None
        self.running = threading.Event()
        self.first_chunk_logged = False
        self.late_chunks = 0
        self.reasoning_pub = self.create_lifecycle_publisher(String, "chatvla/reasoning", COMMAND_QOS)
        # The same text with a header stamped by the observation it answers (= the chunk's stamp),
        # so a bag or a live view can match reasoning, chunk and frame.
        self.reasoning_stamped_pub = self.create_lifecycle_publisher(DiagnosticArray, "chatvla/reasoning_stamped", COMMAND_QOS)
        self.chunk_pub = self.create_lifecycle_publisher(JointTrajectory, "chatvla/action_chunk", COMMAND_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", COMMAND_QOS)
        self.create_timer(diagnostics_period_s, self.publish_diagnostics)

    # Lifecycle transitions -------------------------------------------------------------------
    def read_parameters(self) -> None:
        """The parameters' current values: cleanup, `ros2 param set`, configure picks them up."""
        for attribute, name in PARAMETER_ATTRIBUTES:
            value = self.get_parameter(name).value
            setattr(self, attribute, list(value) if isinstance(value, (list, tuple)) else value)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            problem = unknown_parameter_problem(self)
            if problem:
                raise ValueError(problem)
            self.read_parameters()
            robot = load_robot_spec(self.robot_name)
            self.transports()  # refuse a bad camera_transports list before loading a model
            # sync reasons on every frame (its contract); the schedule parameters pace async mode
            schedule = (ReasoningScheduleConfig(self.refresh_every_frames, self.scene_change_threshold)
                        if self.runtime_mode == "async" else None)
            rtc = (RtcConfig(self.rtc_min_delay_steps, self.rtc_max_delay_steps, self.rtc_max_first_jump_rad)
                   if self.rtc_enabled else None)
            config = RuntimeConfig(mode=self.runtime_mode, max_reasoning_tokens=self.max_reasoning_tokens,
                                   schedule=schedule, rtc=rtc)
            self.buffer = ObservationBuffer(self.camera_names, self.max_observation_age_s)
            self.robot_state = RobotStateAssembler(robot)
            self.policy = load_policy(self.policy_spec, robot, config, self.device, self.torch_threads)
            self.warm_up(robot)
        except (OSError, ValueError, RuntimeError) as error:
            self.status_message = f"configure failed: {error}"
            self.get_logger().error(self.status_message)
            self.publish_diagnostics()
            return FAILURE
        for name, transport in zip(self.camera_names, self.transports()):
            if transport == "compressed":
                self.subscriptions_made.append(self.create_subscription(
                    CompressedImage, f"cameras/{name}/image_raw/compressed",
                    lambda msg, name=name: self.on_compressed_image(name, msg), SENSOR_QOS))
            else:
                self.subscriptions_made.append(self.create_subscription(
                    Image, f"cameras/{name}/image_raw", lambda msg, name=name: self.on_image(name, msg), SENSOR_QOS))
        for topic in self.joint_state_topics:
            self.subscriptions_made.append(self.create_subscription(JointState, topic, self.on_joint_state, SENSOR_QOS))
        self.subscriptions_made.append(self.create_subscription(String, "chatvla/instruction", self.on_instruction, INSTRUCTION_QOS))
        self.status_message = f"configured with policy '{self.policy_spec}' ({self.runtime_mode})"
        self.get_logger().info(self.status_message)
        return super().on_configure(state)

    def transports(self) -> list[str]:
        transports = ["raw"] * len(self.camera_names) if self.camera_transports in ([], [""]) else self.camera_transports
        if len(transports) != len(self.camera_names) or set(transports) - {"raw", "compressed"}:
            raise ValueError(f"camera_transports {self.camera_transports} must give raw or compressed for each of "
                             f"camera_names {self.camera_names}")
        return transports

    def warm_up(self, robot) -> None:
        if self.warm_up_rounds < 1:
            self.get_logger().warning("warm-up disabled (warm_up_rounds 0): the first chunk may be stale")
            return
        observation = warm_up_observation(self.camera_names, robot.command_names, robot.home_command,
                                          tuple(self.warm_up_image_size_px))
        try:
            report = warm_up(self.policy, observation, self.warm_up_rounds)
        except Exception as error:  # a model that fails a dummy frame must not go active
            close_policy(self.policy)
            self.policy = None
            raise RuntimeError(f"policy failed its warm-up: {error}") from error
        self.warm_up_report = report
        self.get_logger().info(f"policy {report.describe()}")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        # Nothing from before a pause steers the arm after it: the first chunk waits for a
        # reasoning about what the cameras show now.
        self.policy.reset()
        self.first_chunk_logged = False
        self.running.set()
        self.worker = threading.Thread(target=self.inference_loop, name="inference", daemon=True)
        self.worker.start()
        self.status_message = "active"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_worker()
        self.status_message = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self.status_message = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_worker()
        self.release()
        return super().on_shutdown(state)

    def stop_worker(self) -> None:
        self.running.clear()
        if self.worker is not None:
            self.worker.join()
            self.worker = None

    def release(self) -> None:
        for subscription in self.subscriptions_made:
            self.destroy_subscription(subscription)
        self.subscriptions_made.clear()
        if self.policy is not None:
            close_policy(self.policy)
        self.policy, self.buffer, self.robot_state = None, None, None

    def destroy_node(self) -> None:
        self.stop_worker()
        self.release()
        super().destroy_node()
        destroy_lifecycle_state_machine(self)

    # Inputs -----------------------------------------------------------------------------------
    def on_instruction(self, msg: String) -> None:
        self.instruction = msg.data
        shown = msg.data if len(msg.data) <= 200 else f"{msg.data[:200]}... ({len(msg.data)} characters)"
        self.get_logger().info(f"new instruction: {shown!r}")

    def on_joint_state(self, msg: JointState) -> None:
        buffer, assembler = self.buffer, self.robot_state
        if buffer is None or assembler is None:
            return
        try:
            state = assembler.update(msg.name, msg.position, time_to_seconds(msg.header.stamp), msg.velocity)
        except ValueError as error:
            self.get_logger().error(f"joint state dropped: {error}", throttle_duration_sec=5.0)
            return
        if state is not None:
            buffer.put_joint_state(state.stamp_s, state.names, state.positions)

    def on_image(self, camera: str, msg: Image) -> None:
        buffer = self.buffer
        if buffer is None:
            return
        try:
            frame = to_rgb8(image_msg_to_array(msg), msg.encoding)  # (H, W, 3) uint8
        except ValueError as error:
            self.get_logger().error(f"camera '{camera}': dropped frame: {error}", throttle_duration_sec=5.0)
            return
        buffer.put_frame(camera, time_to_seconds(msg.header.stamp), frame)

    def on_compressed_image(self, camera: str, msg: CompressedImage) -> None:
        buffer = self.buffer
        if buffer is None:
            return
        try:
            frame = decode_compressed(msg.data, msg.format)  # (H, W, 3) uint8 RGB
        except ValueError as error:
            self.get_logger().error(f"camera '{camera}': dropped compressed frame: {error}", throttle_duration_sec=5.0)
            return
        buffer.put_frame(camera, time_to_seconds(msg.header.stamp), frame)

    # Inference --------------------------------------------------------------------------------
    def inference_loop(self) -> None:
        """Runs while active: one observation per fresh trigger frame, newest samples only."""
        buffer, policy = self.buffer, self.policy
        while self.running.is_set():
            if not buffer.wait_for_trigger(timeout_s=0.1):
                continue
            observation, why_not = buffer.take(self.now_s(), self.instruction)
            if observation is None:
                missing = self.robot_state.missing if self.robot_state is not None else []
                if missing:
                    why_not += (f"; joints {missing} not heard yet on {self.joint_state_topics} "
                                f"(the {self.robot_name} state needs them)")
                self.get_logger().warning(why_not, throttle_duration_sec=5.0)
                continue
            self.answer(policy, observation)

    def answer(self, policy, observation) -> None:
        try:
            output = policy.infer(observation)
            chunk = ActionChunk(output.joint_names, np.asarray(output.actions, dtype=float),
                                output.step_dt_s, observation.stamp_s)
            if not np.all(np.isfinite(chunk.positions)):
                raise ValueError("policy returned non-finite actions")
        except Exception as error:  # the arm must never see a half-made chunk; report and skip
            message = f"no chunk for the frame stamped {observation.stamp_s:.3f}: {error}"
            self.stats.error(message)
            self.get_logger().error(message, throttle_duration_sec=5.0)
            return
        if not self.running.is_set():
            return
        age_s = self.now_s() - observation.stamp_s
        if age_s > self.max_observation_age_s:
            # Too late to act on (the controller's gate would refuse it): drop it here, counted. The
            # first answer after activation waits for a whole reasoning; the next frames are fast.
            self.late_chunks += 1
            self.get_logger().info(f"chunk dropped: it answers an observation {age_s:.3f} s old, more than "
                                   f"max_observation_age_s {self.max_observation_age_s} s", throttle_duration_sec=5.0)
            return
        self.reasoning_pub.publish(String(data=output.reasoning))
        self.reasoning_stamped_pub.publish(self.stamped_reasoning(output.reasoning, observation))
        self.chunk_pub.publish(chunk_to_trajectory(chunk))
        self.stats.chunk(age_s)
        if not self.first_chunk_logged:
            self.first_chunk_logged = True
            self.get_logger().info(f"first chunk since activation: answers an observation {age_s:.3f} s old "
                                   f"(inference {output.info.get('latency_s', float('nan')):.3f} s wall)")

    def stamped_reasoning(self, text: str, observation) -> DiagnosticArray:
        status = DiagnosticStatus(name=REASONING_NAME, hardware_id=self.get_name(), level=DiagnosticStatus.OK,
                                  message=text, values=[KeyValue(key="instruction", value=observation.instruction),
                                                        KeyValue(key="policy", value=self.policy_spec)])
        message = DiagnosticArray(status=[status])
        message.header.stamp = seconds_to_time(observation.stamp_s)
        return message

    def now_s(self) -> float:
        return node_now_s(self)

    # Diagnostics ------------------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        snapshot = self.stats.snapshot()
        buffer = self.buffer
        status = DiagnosticStatus(name=DIAGNOSTIC_NAME, hardware_id=self.get_name())
        recent_error = snapshot.error_is_current  # WARN until the model answers again, then OK
        if self.status_message.startswith("configure failed"):
            status.level, status.message = DiagnosticStatus.ERROR, self.status_message
        elif recent_error:
            status.level, status.message = DiagnosticStatus.WARN, f"{self.status_message}; last error: {snapshot.last_error}"
        else:
            status.level, status.message = DiagnosticStatus.OK, self.status_message
        values = {"chunks_published": snapshot.chunks, "chunk_rate_hz": f"{snapshot.chunk_rate_hz:.2f}",
                  "latency_p50_ms": f"{snapshot.latency_p50_s * 1e3:.1f}",
                  "latency_p99_ms": f"{snapshot.latency_p99_s * 1e3:.1f}",
                  "stale_drops": buffer.stale if buffer else 0,
                  "superseded_drops": buffer.superseded if buffer else 0,
                  "late_chunk_drops": self.late_chunks,
                  "model_errors": snapshot.model_errors, "last_error": snapshot.last_error,
                  "policy": self.policy_spec, "runtime_mode": self.runtime_mode}
        status.values = [KeyValue(key=key, value=str(value)) for key, value in values.items()]
        message = DiagnosticArray(status=[status])
        message.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(message)


def start_inference(node: InferenceNode) -> None:
    """Drive the node through configure and activate; raise naming the transition that failed."""
    if node.trigger_configure() != SUCCESS:
        raise RuntimeError(f"inference node failed to configure: {node.status_message}")
    if node.trigger_activate() != SUCCESS:
        raise RuntimeError(f"inference node failed to activate: {node.status_message}")


def main(args: list[str] | None = None) -> None:
    run_node(InferenceNode, args, prepare=lambda node: start_inference(node) if node.autostart else None)

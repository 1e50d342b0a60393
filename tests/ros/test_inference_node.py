"""The lifecycle inference node over real rclpy and DDS: transitions, stale frames, model errors."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import vendor_joint_state
from chatvla2.ros.conversions import seconds_to_time, time_to_seconds
from chatvla2.ros.image_conversion import array_to_image_msg
from chatvla2.ros.inference_node import DIAGNOSTIC_NAME, InferenceNode
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

from ros_testing import REPO, stamp_among

pytestmark = pytest.mark.integration
ROBOT = load_robot_spec("franka_fr3")
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class Rig:
    """The inference node plus a probe node that plays camera and arm and listens to the outputs."""

    def __init__(self, context, **parameters) -> None:
        overrides = [Parameter(name, value=value) for name, value in
                     {"diagnostics_period_s": 0.2, **parameters}.items()]
        self.node = InferenceNode(context=context, parameter_overrides=overrides)
        self.probe = rclpy.create_node("inference_probe", context=context)
        self.image_pub = self.probe.create_publisher(Image, "/cameras/front/image_raw", SENSOR_QOS)
        self.joint_pub = self.probe.create_publisher(JointState, "/joint_states", SENSOR_QOS)
        self.chunks: list[JointTrajectory] = []
        self.reasoning: list[String] = []
        self.reasoning_stamped: list[DiagnosticArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.probe.create_subscription(JointTrajectory, "/chatvla/action_chunk", self.chunks.append, COMMAND_QOS)
        self.probe.create_subscription(String, "/chatvla/reasoning", self.reasoning.append, COMMAND_QOS)
        self.probe.create_subscription(DiagnosticArray, "/chatvla/reasoning_stamped", self.reasoning_stamped.append, COMMAND_QOS)
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, COMMAND_QOS)
        self.get_state = self.probe.create_client(GetState, "/inference/get_state")
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self.sent_stamps: list[float] = []

    def now_s(self) -> float:
        return self.probe.get_clock().now().nanoseconds * 1e-9

    def publish_observation(self, age_s: float = 0.0, joint_positions=None) -> None:
        stamp_s = self.now_s() - age_s
        frame = np.full((48, 64, 3), 120, dtype=np.uint8)
        self.image_pub.publish(array_to_image_msg(frame, "rgb8", seconds_to_time(stamp_s), "front"))
        names, positions = vendor_joint_state(ROBOT, ROBOT.home_command if joint_positions is None else joint_positions)
        state = JointState(name=names, position=positions.tolist())  # as franka_ros2 publishes it
        state.header.stamp = seconds_to_time(stamp_s)
        self.joint_pub.publish(state)
        self.sent_stamps.append(stamp_s)

    def run(self, duration_s: float, rate_hz: float = 20.0, **observation) -> None:
        """Publish observations at rate_hz for duration_s while spinning both nodes."""
        end = time.monotonic() + duration_s
        next_send = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() >= next_send:
                self.publish_observation(**observation)
                next_send += 1.0 / rate_hz
            self.executor.spin_once(timeout_sec=0.01)

    def state_label(self) -> str:
        if not self.get_state.wait_for_service(timeout_sec=5.0):
            raise TimeoutError("/inference/get_state is not available")
        future = self.get_state.call_async(GetState.Request())
        self.executor.spin_until_future_complete(future, timeout_sec=5.0)
        return future.result().current_state.label

    def last_status(self):
        mine = [s for array in self.diagnostics for s in array.status if s.name == DIAGNOSTIC_NAME]
        return mine[-1] if mine else None

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def rig_factory(rclpy_context):
    rigs = []

    def make(**parameters) -> Rig:
        rigs.append(Rig(rclpy_context, **parameters))
        return rigs[-1]

    yield make
    for rig in rigs:
        rig.close()


def values(status) -> dict[str, str]:
    return {item.key: item.value for item in status.values}


def test_lifecycle_configure_activate_deactivate_cleanup(rig_factory):
    rig = rig_factory()
    assert rig.state_label() == "unconfigured"
    rig.run(0.5)
    assert not rig.chunks, "an unconfigured node must not infer"

    assert rig.node.trigger_configure() == SUCCESS
    assert rig.state_label() == "inactive" and rig.node.policy is not None
    rig.run(0.5)
    assert not rig.chunks, "an inactive node must not publish chunks"

    assert rig.node.trigger_activate() == SUCCESS
    assert rig.state_label() == "active"
    rig.run(2.0)
    assert len(rig.chunks) >= 5 and rig.reasoning
    chunk = rig.chunks[-1]
    assert stamp_among(time_to_seconds(chunk.header.stamp), rig.sent_stamps), "chunk must carry its frame's stamp"
    assert tuple(chunk.joint_names) == ROBOT.command_names and len(chunk.points) == 16
    # The stamped reasoning carries the stamp of the observation it answers: the chunk's.
    chunk_stamps = [time_to_seconds(c.header.stamp) for c in rig.chunks]
    stamped = rig.reasoning_stamped[-1]
    assert stamped.status[0].message == rig.reasoning[-1].data
    assert stamp_among(time_to_seconds(stamped.header.stamp), chunk_stamps)

    assert rig.node.trigger_deactivate() == SUCCESS
    assert rig.state_label() == "inactive"
    rig.run(0.3)  # let chunks already in flight arrive
    published = len(rig.chunks)
    rig.run(1.0)
    assert len(rig.chunks) == published, "a deactivated node must stop publishing"

    assert rig.node.trigger_cleanup() == SUCCESS
    assert rig.state_label() == "unconfigured" and rig.node.policy is None
    status = rig.last_status()
    assert int(values(status)["chunks_published"]) >= 5


def test_reactivation_starts_the_policy_afresh(rig_factory):
    rig = rig_factory()
    assert rig.node.trigger_configure() == SUCCESS and rig.node.trigger_activate() == SUCCESS
    rig.run(1.0)
    assert rig.node.trigger_deactivate() == SUCCESS
    assert rig.node.policy.chunks_served > 0
    assert rig.node.trigger_activate() == SUCCESS
    assert rig.node.policy.chunks_served == 0, "the policy kept its state across deactivate/activate"


def test_stale_frames_are_dropped_not_used(rig_factory):
    rig = rig_factory(max_observation_age_s=0.3)
    assert rig.node.trigger_configure() == SUCCESS and rig.node.trigger_activate() == SUCCESS
    rig.run(1.5, age_s=2.0)
    assert not rig.chunks, "frames 2 s old must never become chunks"
    rig.run(0.5, rate_hz=5.0, age_s=2.0)
    assert int(values(rig.last_status())["stale_drops"]) >= 5
    rig.run(1.5)
    assert rig.chunks, "fresh frames after stale ones must be answered"
    newest_stamp_s = max(time_to_seconds(c.header.stamp) for c in rig.chunks)
    assert rig.now_s() - newest_stamp_s < 1.0


def test_non_finite_model_output_publishes_nothing_and_is_reported(rig_factory):
    # A model that answers NaN (a diverged checkpoint, a bad kernel): its chunk must not leave.
    from dataclasses import replace

    rig = rig_factory()
    assert rig.node.trigger_configure() == SUCCESS
    policy = rig.node.policy
    sane = policy.infer
    policy.infer = lambda observation: (lambda out: replace(out, actions=np.full_like(out.actions, np.nan)))(sane(observation))
    assert rig.node.trigger_activate() == SUCCESS
    rig.run(1.5)
    assert not rig.chunks
    status = rig.last_status()
    assert status is not None and status.level == status.WARN
    assert int(values(status)["model_errors"]) >= 3
    assert "non-finite" in values(status)["last_error"]
    policy.infer = sane
    rig.run(1.0)
    assert rig.chunks, "the node must recover once the model is sane again"
    status = rig.last_status()
    assert status.level == status.OK, "diagnostics return to OK once chunks flow again (it stayed WARN for good)"
    assert int(values(status)["model_errors"]) >= 3, "the error count is kept"


def test_non_finite_joint_state_is_dropped_before_the_model(rig_factory):
    # A faulty driver's NaN never reaches the policy: the robot-state path refuses the message.
    rig = rig_factory()
    assert rig.node.trigger_configure() == SUCCESS and rig.node.trigger_activate() == SUCCESS
    positions = ROBOT.home_command.copy()
    positions[2] = np.nan
    rig.run(1.5, joint_positions=positions)
    assert not rig.chunks
    rig.run(1.0)
    assert rig.chunks, "chunks flow once the joint states are sane again"


def test_missing_checkpoint_fails_configure_with_a_clear_error(rig_factory, tmp_path):
    missing = tmp_path / "no-such-model"
    rig = rig_factory(policy=str(missing))
    assert rig.node.trigger_configure() == FAILURE
    assert rig.state_label() == "unconfigured"
    rig.run(0.6)
    status = rig.last_status()
    assert status.level == status.ERROR
    assert str(missing) in status.message and "does not exist" in status.message


def first_chunk_latency_s(rig: Rig, timeout_s: float = 20.0) -> float:
    """Activate, publish one observation, and time until its chunk arrives (closed loop)."""
    assert rig.node.trigger_activate() == SUCCESS
    before = len(rig.chunks)
    rig.publish_observation()
    sent = time.monotonic()
    while len(rig.chunks) == before:
        if time.monotonic() - sent > timeout_s:
            raise TimeoutError(f"no chunk within {timeout_s} s of activation")
        rig.executor.spin_once(timeout_sec=0.005)
    latency = time.monotonic() - sent
    assert rig.node.trigger_deactivate() == SUCCESS
    return latency


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_first_chunk_after_configure_comes_at_steady_state_speed(rig_factory, mode):
    """Configure warms the shipped model up, so the first chunk after activation costs what the
    first chunk after any later activation costs (each waits for a fresh reasoning)."""
    rig = rig_factory(policy="models/chatvla2-tiny", runtime_mode=mode, torch_threads=0,
                      warm_up_image_size_px=[48, 64], max_observation_age_s=30.0)  # timed, never dropped
    assert rig.node.trigger_configure() == SUCCESS
    report = rig.node.warm_up_report
    assert report is not None and len(report.round_s) == 2, "configure must warm the policy up"
    latencies = [first_chunk_latency_s(rig) for _ in range(5)]
    first, steady = latencies[0], float(np.median(latencies[1:]))
    assert first <= 2.5 * steady, f"first chunk {first * 1e3:.0f} ms vs steady {steady * 1e3:.0f} ms: {latencies}"


def test_a_huge_instruction_is_taken_whole_but_logged_short(rig_factory, capfd):
    from chatvla2.ros.qos import INSTRUCTION_QOS

    rig = rig_factory()
    assert rig.node.trigger_configure() == SUCCESS
    publisher = rig.probe.create_publisher(String, "/chatvla/instruction", INSTRUCTION_QOS)
    huge = "pick the card " + "x" * 1_000_000
    publisher.publish(String(data=huge))
    deadline = time.monotonic() + 10.0
    while rig.node.instruction != huge and time.monotonic() < deadline:
        rig.executor.spin_once(timeout_sec=0.05)
    assert rig.node.instruction == huge, "the policy gets the instruction as sent"
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert f"({len(huge)} characters)" in text, text[-2000:]
    assert len(text) < 20_000, f"the log line holds the whole instruction ({len(text)} characters of output)"


def test_reconfigure_loads_the_policy_set_while_unconfigured(rig_factory):
    """cleanup -> `ros2 param set /inference policy ...` -> configure loads the new policy."""
    from rclpy.parameter import Parameter as RosParameter

    from chatvla2.policy.placeholder import PlaceholderPolicy
    from chatvla2.policy.runtime import AsyncReasoningRuntime

    rig = rig_factory(warm_up_rounds=0)
    assert rig.node.trigger_configure() == SUCCESS and isinstance(rig.node.policy, PlaceholderPolicy)
    assert rig.node.trigger_cleanup() == SUCCESS
    model = str(REPO / "models" / "chatvla2-tiny")
    assert rig.node.set_parameters([RosParameter("policy", value=model)])[0].successful
    assert rig.node.trigger_configure() == SUCCESS, rig.node.status_message
    assert isinstance(rig.node.policy, AsyncReasoningRuntime) and model in rig.node.status_message


def test_configure_fails_on_an_unknown_parameter_with_the_nearest_name(rig_factory):
    rig = rig_factory(polcy="placeholder")
    assert rig.node.trigger_configure() != SUCCESS
    assert "unknown parameter 'polcy' (did you mean 'policy'?)" in rig.node.status_message


def test_a_compressed_camera_drives_the_model_to_the_same_chunk_as_the_raw_frame(rig_factory):
    """camera_transports [compressed]: a PNG CompressedImage on cameras/front/image_raw/compressed
    decodes to the same pixels, so the shipped model (sync runtime) answers with the same chunk."""
    from sensor_msgs.msg import CompressedImage

    from chatvla2.imaging.compressed import encode_compressed

    frame = np.zeros((96, 128, 3), dtype=np.uint8)
    frame[..., 0] = 180
    frame[20:70, 30:100] = np.random.default_rng(3).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    model = str(REPO / "models" / "chatvla2-tiny")
    chunks = {}
    for transport in ("compressed", "raw"):
        rig = rig_factory(policy=model, runtime_mode="sync", warm_up_rounds=0, torch_threads=0,
                          camera_transports=[transport], max_observation_age_s=30.0)
        assert rig.node.trigger_configure() == SUCCESS, rig.node.status_message
        assert rig.node.trigger_activate() == SUCCESS
        compressed = rig.probe.create_publisher(CompressedImage, "/cameras/front/image_raw/compressed", SENSOR_QOS)
        stamp = seconds_to_time(rig.now_s())
        names, positions = vendor_joint_state(ROBOT, ROBOT.home_command)
        state = JointState(name=names, position=positions.tolist())
        state.header.stamp = stamp
        deadline = time.monotonic() + 60.0
        while not rig.chunks and time.monotonic() < deadline:
            rig.joint_pub.publish(state)
            if transport == "compressed":
                payload, fmt = encode_compressed(frame, "png")
                message = CompressedImage(format=fmt, data=payload)
                message.header.stamp = stamp
                compressed.publish(message)
            else:
                rig.image_pub.publish(array_to_image_msg(frame, "rgb8", stamp, "front"))
            end = time.monotonic() + 1.0
            while not rig.chunks and time.monotonic() < end:
                rig.executor.spin_once(timeout_sec=0.02)
        assert rig.chunks, f"{transport}: no chunk"
        chunks[transport] = np.array([p.positions for p in rig.chunks[0].points])  # (H, A)
        assert rig.node.trigger_deactivate() == SUCCESS
    np.testing.assert_allclose(chunks["compressed"], chunks["raw"], atol=1e-6)


def test_a_chunk_that_comes_back_too_late_is_dropped_not_published(rig_factory):
    """A chunk older than max_observation_age_s when the model finishes would only be refused by the
    controller's gate: the node drops it and counts it (late_chunk_drops)."""
    rig = rig_factory(max_observation_age_s=0.1)
    assert rig.node.trigger_configure() == SUCCESS
    policy = rig.node.policy
    fast = policy.infer

    def slow(observation):
        time.sleep(0.25)
        return fast(observation)

    policy.infer = slow
    assert rig.node.trigger_activate() == SUCCESS
    rig.run(2.0)
    assert not rig.chunks, "a chunk 0.25 s late went out"
    assert int(values(rig.last_status())["late_chunk_drops"]) >= 3
    policy.infer = fast
    rig.run(1.0)
    assert rig.chunks, "chunks flow again once the model answers in time"

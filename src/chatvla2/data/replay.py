"""Offline replay evaluation: feed a recorded bag's observations to a policy and compare.

For every frame of the trigger camera (the first camera, as in the inference node), in recorded
order, the policy sees the newest frame of each camera, the newest joint state and the current
instruction. Its chunk (H, A) is compared with what was recorded for that frame: the chunk on
/chatvla/action_chunk stamped with the frame's stamp, or, where none was recorded (teleoperation),
the arm commands in effect at stamp + (k + 1) * step_dt. The predicted chunks also drive the
controller core over the recorded joint states, which counts how often the safety filter would
intervene and why. Never touches ROS; the policy is any `Policy`.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.data.bag_reader import StackRecording, with_robot_states
from chatvla2.policy.interface import Observation, Policy
from chatvla2.policy.warmup import warm_up, warm_up_observation

DEFAULT_INSTRUCTION = "pick the card that answers the equation on the board"


@dataclass
class ReplayStep:
    stamp_s: float                  # the trigger frame's stamp
    instruction: str
    reasoning: str                  # what the policy said
    recorded_reasoning: str | None  # what the recorded policy said for the same frame, if known
    predicted: np.ndarray           # (H, A) ordered as robot.command_names
    recorded: np.ndarray | None     # (H, A) with NaN where nothing was recorded, None if nothing at all
    recorded_source: str            # "chunk", "commands" or "none"
    latency_ms: float


@dataclass
class ReplayResult:
    joint_names: tuple[str, ...]
    steps: list[ReplayStep] = field(default_factory=list)
    interventions: Counter = field(default_factory=Counter)
    control_ticks: int = 0
    skipped: Counter = field(default_factory=Counter)  # why frames were not evaluated
    warm_up_s: float = float("nan")  # the policy's warm-up before the first frame (not in latencies)


def latest_before(times: np.ndarray, t_s: float) -> int | None:
    i = int(np.searchsorted(times, t_s, side="right")) - 1
    return i if i >= 0 else None


class _RecordedActions:
    """What the recording says the arm was asked to do after a frame."""

    def __init__(self, recording: StackRecording, robot: RobotSpec) -> None:
        self.names = robot.command_names
        self.chunks = {round(c.chunk.stamp_s, 6): c.chunk for c in recording.chunks}
        commands = sorted(recording.commands, key=lambda c: c.stamp_s)
        self.command_times = np.array([c.stamp_s for c in commands])
        self.command_values = [(c.names, c.positions) for c in commands]

    def for_frame(self, stamp_s: float, horizon: int, step_dt_s: float) -> tuple[np.ndarray | None, str]:
        chunk = self.chunks.get(round(stamp_s, 6))
        if chunk is not None:
            rows = columns_by_name(chunk.joint_names, chunk.positions, self.names, "recorded chunk")
            recorded = np.full((horizon, len(self.names)), np.nan)
            recorded[:min(horizon, len(rows))] = rows[:horizon]
            return recorded, "chunk"
        if not len(self.command_times):
            return None, "none"
        recorded = np.full((horizon, len(self.names)), np.nan)
        last_time = self.command_times[-1]
        for k in range(horizon):
            t_s = stamp_s + (k + 1) * step_dt_s
            i = latest_before(self.command_times, t_s)
            if i is not None and t_s <= last_time:
                names, positions = self.command_values[i]
                # franka_ros2's arm command has no gripper column (the Hand takes actions): unknown
                carried = [j for j, name in enumerate(self.names) if name in names]
                recorded[k, carried] = columns_by_name(names, positions, [self.names[j] for j in carried],
                                                       "recorded command")
        return (recorded, "commands") if np.isfinite(recorded).any() else (None, "none")


def replay(recording: StackRecording, policy: Policy, robot: RobotSpec, cameras: list[str] | None = None,
           controller_config: ControllerConfig | None = None, realtime: bool = False) -> ReplayResult:
    cameras = cameras or sorted(recording.frames, key=lambda name: (name != "front", name))
    if not cameras or not recording.frames.get(cameras[0]):
        raise ValueError(f"bag '{recording.path}' has no frames of camera '{cameras[0] if cameras else '?'}'")
    recording = with_robot_states(recording, robot)
    result = ReplayResult(robot.command_names)
    recorded_actions = _RecordedActions(recording, robot)
    frame_times = {c: np.array([f.stamp_s for f in recording.frames.get(c, [])]) for c in cameras}
    joint_times = np.array([s.stamp_s for s in recording.joint_states])
    instruction_times = np.array([s.log_time_s for s in recording.instructions])
    reasoning_times = np.array([s.log_time_s for s in recording.reasoning])
    chunk_log_times = {round(c.chunk.stamp_s, 6): c.log_time_s for c in recording.chunks}
    controller = _SafetyReplay(robot, controller_config or ControllerConfig(), recording)
    instruction = None
    # As the inference node does at configure: the latencies below are the steady state's.
    first_state = recording.joint_states[0]
    result.warm_up_s = warm_up(policy, warm_up_observation(
        cameras, first_state.names, first_state.positions,
        recording.frames[cameras[0]][0].image.shape[:2])).total_s
    wall_start, bag_start = time.monotonic(), recording.frames[cameras[0]][0].log_time_s
    for frame in tqdm(recording.frames[cameras[0]], desc="replay", unit="frame"):
        if realtime:
            time.sleep(max(0.0, (frame.log_time_s - bag_start) - (time.monotonic() - wall_start)))
        latest = {c: latest_before(frame_times[c], frame.stamp_s) for c in cameras}
        joint = latest_before(joint_times, frame.stamp_s)
        if joint is None or any(i is None for i in latest.values()):
            result.skipped["no joint state or camera frame yet"] += 1
            continue
        i = latest_before(instruction_times, frame.log_time_s)
        current = recording.instructions[i].text if i is not None else (
            recording.instructions[0].text if recording.instructions else DEFAULT_INSTRUCTION)
        if current != instruction:
            instruction = current
            policy.reset()
        state = recording.joint_states[joint]
        observation = Observation(
            images={c: recording.frames[c][latest[c]].image for c in cameras}, joint_names=state.names,
            joint_positions=state.positions, instruction=instruction, stamp_s=frame.stamp_s)
        started = time.perf_counter()
        try:
            output = policy.infer(observation)
        except ValueError as error:
            result.skipped[f"policy refused the observation: {error}"] += 1
            continue
        latency_ms = (time.perf_counter() - started) * 1e3
        predicted = columns_by_name(output.joint_names, output.actions, robot.command_names, "policy output")
        recorded, source = recorded_actions.for_frame(frame.stamp_s, len(predicted), output.step_dt_s)
        answered_at = chunk_log_times.get(round(frame.stamp_s, 6))
        r = latest_before(reasoning_times, answered_at) if answered_at is not None else None
        result.steps.append(ReplayStep(frame.stamp_s, instruction, output.reasoning,
                                       recording.reasoning[r].text if r is not None else None,
                                       predicted, recorded, source, latency_ms))
        controller.submit(ActionChunk(robot.command_names, predicted, output.step_dt_s, frame.stamp_s))
    controller.finish()
    result.interventions, result.control_ticks = controller.core.interventions, controller.ticks
    return result


class _SafetyReplay:
    """Runs the controller core at its control rate on recorded joint states and predicted chunks."""

    def __init__(self, robot: RobotSpec, config: ControllerConfig, recording: StackRecording) -> None:
        self.core, self.period_s = ArmController(robot, config), config.control_period_s
        self.states = recording.joint_states
        self.next_state = 0
        self.now_s: float | None = None
        self.ticks = 0

    def advance_to(self, t_s: float) -> None:
        if self.now_s is None:
            self.now_s = t_s
        while self.now_s + self.period_s <= t_s:
            self.now_s += self.period_s
            while self.next_state < len(self.states) and self.states[self.next_state].stamp_s <= self.now_s:
                state = self.states[self.next_state]
                self.core.on_joint_state(list(state.names), state.positions, state.stamp_s)
                self.next_state += 1
            self.core.tick(self.now_s)
            self.ticks += 1

    def submit(self, chunk: ActionChunk) -> None:
        self.advance_to(chunk.stamp_s)
        self.core.on_chunk(chunk, chunk.stamp_s)

    def finish(self) -> None:
        if self.states:
            self.advance_to(self.states[-1].stamp_s)

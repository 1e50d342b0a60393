"""Turn recorded bags (policy runs or teleoperation) into training episodes (HDF5, ACT layout).

One row per frame of the trigger camera (the first camera): the newest frame of every camera at
that stamp, the joint state interpolated to it, and the action. The action of row t is the arm
command in effect at the next row's time (what the arm was driven towards during the step); a bag
without commands uses the recorded chunk's first row for that frame, and a bag with neither (pure
joint-state logs) the next measured state. Each instruction starts a new episode. Rows where a
camera or the joint state is missing are dropped and counted.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.data import episodes
from chatvla2.data.bag_reader import StackRecording, with_robot_states
from chatvla2.data.replay import DEFAULT_INSTRUCTION, latest_before
from chatvla2.sim.tasks import guess_task


@dataclass
class EpisodeArrays:
    instruction: str
    reasoning: str
    stamps_s: np.ndarray                 # (T,)
    qpos: np.ndarray                     # (T, A)
    qvel: np.ndarray                     # (T, A)
    action: np.ndarray                   # (T, A)
    images: dict[str, np.ndarray]        # camera -> (T, H, W, 3) uint8
    action_source: str
    dropped: Counter = field(default_factory=Counter)


def _joint_state_at(recording: StackRecording, times: np.ndarray, names: tuple[str, ...], t_s: float):
    """(positions (A,), velocities (A,)) linearly interpolated at t_s; None outside the recording."""
    i = latest_before(times, t_s)
    if i is None:
        return None
    a = recording.joint_states[i]
    b = recording.joint_states[min(i + 1, len(times) - 1)]
    span = b.stamp_s - a.stamp_s
    w = 0.0 if span <= 0 else min(1.0, (t_s - a.stamp_s) / span)
    pa, pb = (columns_by_name(s.names, s.positions, names, "joint state") for s in (a, b))
    positions = (1 - w) * pa + w * pb
    if a.velocities is not None and b.velocities is not None:
        velocities = (1 - w) * columns_by_name(a.names, a.velocities, names, "joint state") + \
            w * columns_by_name(b.names, b.velocities, names, "joint state")
    else:
        velocities = (pb - pa) / span if span > 0 else np.zeros_like(pa)
    return positions, velocities


def _commanded_action(command, names: tuple[str, ...], next_state) -> np.ndarray | None:
    """The arm command's targets; joints it does not carry (franka_ros2's arm controller takes the
    7 arm joints, the Hand is driven through franka_gripper's actions) from the next robot state."""
    carried = [name for name in names if name in command.names]
    if len(carried) == len(names):
        return columns_by_name(command.names, command.positions, names, "arm command")
    if next_state is None or not carried:
        return None
    action = next_state[0].copy()
    index = [names.index(name) for name in carried]
    action[index] = columns_by_name(command.names, command.positions, carried, "arm command")
    return action


def episodes_from_recording(recording: StackRecording, robot: RobotSpec, cameras: list[str] | None = None,
                            with_reasoning: bool = True) -> list[EpisodeArrays]:
    cameras = cameras or sorted(recording.frames, key=lambda name: (name != "front", name))
    if not cameras or not recording.frames.get(cameras[0]):
        raise ValueError(f"bag '{recording.path}' has no camera frames to build episodes from")
    recording = with_robot_states(recording, robot)
    names = robot.command_names
    joint_times = np.array([s.stamp_s for s in recording.joint_states])
    frame_times = {c: np.array([f.stamp_s for f in recording.frames.get(c, [])]) for c in cameras}
    command_times = np.array([c.stamp_s for c in recording.commands])
    chunks = {round(c.chunk.stamp_s, 6): c.chunk for c in recording.chunks}
    source = "commands" if recording.commands else "chunk" if recording.chunks else "next joint state"
    instruction_times = np.array([s.log_time_s for s in recording.instructions])
    trigger = recording.frames[cameras[0]]
    rows: dict[str, list] = {}
    order: list[str] = []
    dropped: Counter = Counter()
    for n, frame in enumerate(trigger):
        k = latest_before(instruction_times, frame.log_time_s)
        instruction = recording.instructions[k].text if k is not None else (
            recording.instructions[0].text if recording.instructions else DEFAULT_INSTRUCTION)
        latest = {c: latest_before(frame_times[c], frame.stamp_s) for c in cameras}
        state = _joint_state_at(recording, joint_times, names, frame.stamp_s)
        next_t = trigger[n + 1].stamp_s if n + 1 < len(trigger) else None
        action = None
        if next_t is not None and source == "commands":
            i = latest_before(command_times, next_t)
            if i is not None:
                action = _commanded_action(recording.commands[i], names, _joint_state_at(
                    recording, joint_times, names, next_t))
        elif source == "chunk" and round(frame.stamp_s, 6) in chunks:
            chunk = chunks[round(frame.stamp_s, 6)]
            action = columns_by_name(chunk.joint_names, chunk.positions[0], names, "action chunk")
        elif next_t is not None and source == "next joint state":
            following = _joint_state_at(recording, joint_times, names, next_t)
            action = following[0] if following else None
        if state is None or action is None or any(i is None for i in latest.values()):
            dropped["no joint state, camera frame or action for the frame"] += 1
            continue
        if instruction not in rows:
            rows[instruction] = []
            order.append(instruction)
        images = {c: recording.frames[c][latest[c]].image for c in cameras}
        rows[instruction].append((frame.stamp_s, state[0], state[1], action, images, frame.log_time_s))
    episodes = []
    for instruction in order:
        data = rows[instruction]
        shapes = {c: data[0][4][c].shape for c in cameras}
        kept = [r for r in data if all(r[4][c].shape == shapes[c] for c in cameras)]
        dropped["image size changed within the episode"] += len(data) - len(kept)
        span = (kept[0][5], kept[-1][5])
        said = [s.text for s in recording.reasoning if span[0] <= s.log_time_s <= span[1]]
        reasoning = max(set(said), key=said.count) if (said and with_reasoning) else ""
        episodes.append(EpisodeArrays(
            instruction=instruction, reasoning=reasoning,
            stamps_s=np.array([r[0] for r in kept]),
            qpos=np.array([r[1] for r in kept], dtype=np.float32),
            qvel=np.array([r[2] for r in kept], dtype=np.float32),
            action=np.array([r[3] for r in kept], dtype=np.float32),
            images={c: np.stack([r[4][c] for r in kept]) for c in cameras},  # (T, H, W, 3)
            action_source=source, dropped=+dropped))
    return episodes


def write_episode(episode: EpisodeArrays, path: Path, robot: RobotSpec, bag: Path, task: str | None,
                  split: str, success: bool, seed: int) -> Path:
    """Write through chatvla2.data.episodes (the one definition of the layout), plus provenance."""
    steps = np.diff(episode.stamps_s)
    written = episodes.write_episode(path, episodes.Episode(
        task=task or guess_task(episode.instruction), instruction=episode.instruction,
        reasoning=episode.reasoning, success=success, seed=seed, split=split,
        control_dt_s=float(np.median(steps)) if len(steps) else 0.0, joint_names=robot.command_names,
        qpos=episode.qpos, qvel=episode.qvel, images=episode.images, action=episode.action))
    with h5py.File(written, "a") as f:
        f.attrs["source_bag"] = str(bag)
        f.attrs["action_source"] = episode.action_source
    return written

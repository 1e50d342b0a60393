"""The newest frame of each camera and the newest joint state, handed out once, never queued.

Sensors run faster than (or out of step with) the model. Queueing would make the robot act on
ever older views, so the buffer keeps one slot per source: a newer sample replaces the older one
(counted as superseded when the older was never used), and `take` refuses to build an observation
from anything older than `max_age_s` (counted as stale). Plain Python, thread-safe: ROS callbacks
put, the inference thread takes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from chatvla2.policy.interface import Observation


@dataclass(frozen=True)
class Stamped:
    stamp_s: float
    value: object


class ObservationBuffer:
    """Trigger camera = the first of `camera_names`: each new frame of it is one observation."""

    def __init__(self, camera_names: list[str], max_age_s: float) -> None:
        if not camera_names:
            raise ValueError("camera_names must name at least one camera")
        if max_age_s <= 0.0:
            raise ValueError(f"max_observation_age_s must be positive, got {max_age_s}")
        self.camera_names, self.max_age_s = list(camera_names), max_age_s
        self.changed = threading.Condition()
        self.frames: dict[str, Stamped] = {}
        self.joints: Stamped | None = None
        self.fresh_trigger = False
        self.superseded = 0  # trigger frames replaced before any observation used them
        self.stale = 0  # observations refused because a sample was too old

    def put_frame(self, camera: str, stamp_s: float, frame: np.ndarray) -> None:
        with self.changed:
            if camera == self.camera_names[0]:
                if self.fresh_trigger:
                    self.superseded += 1
                self.fresh_trigger = True
            self.frames[camera] = Stamped(stamp_s, frame)
            self.changed.notify_all()

    def put_joint_state(self, stamp_s: float, names: tuple[str, ...], positions: np.ndarray) -> None:
        with self.changed:
            self.joints = Stamped(stamp_s, (names, positions))

    def wait_for_trigger(self, timeout_s: float) -> bool:
        """True when an unused trigger frame is waiting."""
        with self.changed:
            return self.changed.wait_for(lambda: self.fresh_trigger, timeout_s)

    def take(self, now_s: float, instruction: str) -> tuple[Observation | None, str]:
        """(observation, '') from the newest samples, or (None, why) when one is missing or stale.

        Consumes the trigger frame either way: a stale frame is dropped, not retried."""
        with self.changed:
            self.fresh_trigger = False
            missing = [name for name in self.camera_names if name not in self.frames]
            if missing or self.joints is None:
                return None, f"waiting for {'cameras ' + str(missing) if missing else 'a joint state'}"
            ages = {f"camera '{name}'": now_s - self.frames[name].stamp_s for name in self.camera_names}
            ages["joint state"] = now_s - self.joints.stamp_s
            stale = {what: age for what, age in ages.items() if age > self.max_age_s}
            if stale:
                self.stale += 1
                detail = ", ".join(f"{what} {age:.3f} s old" for what, age in stale.items())
                return None, f"stale observation dropped ({detail} > {self.max_age_s} s)"
            names, positions = self.joints.value
            stamp_s = self.frames[self.camera_names[0]].stamp_s
            images = {name: self.frames[name].value for name in self.camera_names}
        return Observation(images=images, joint_names=names, joint_positions=positions,
                           instruction=instruction, stamp_s=stamp_s), ""

    def clear(self) -> None:
        with self.changed:
            self.frames.clear()
            self.joints = None
            self.fresh_trigger = False

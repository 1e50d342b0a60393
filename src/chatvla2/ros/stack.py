"""Run the whole stack composed in one process (the ROS 2 composition pattern) and report.

camera -> inference -> arm_controller -> sim_arm, plus a monitor that publishes the instruction
(transient-local) and prints what happens. Two ways to run:

- steps: one line per action chunk (the reasoning and what the arm did), until N chunks;
- trials (MuJoCo backend): consecutive scenes from the parameter file's seed on, a fresh stack
  per scene; prints the scene, the instruction, each new reasoning, and whether the right card
  was picked (the simulator's ground truth), and saves a PNG strip of the front camera per trial.

Ctrl-C and SIGTERM end either cleanly.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.ros.arm_controller_node import ArmControllerNode, start_controller
from chatvla2.ros.camera_node import CameraNode
from chatvla2.ros.conversions import time_to_seconds
from chatvla2.ros.image_conversion import image_msg_to_array
from chatvla2.ros.inference_node import InferenceNode, start_inference
from chatvla2.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS
from chatvla2.ros.sim_arm_node import SimArmNode


class StackMonitor(Node):
    """Publishes the instruction and prints, per chunk, the reasoning and the arm's motion."""

    def __init__(self, instruction: str, steps: int, done: threading.Event, per_chunk: bool = True,
                 film_camera: str | None = None, film_every_s: float = 1.0) -> None:
        super().__init__("stack_monitor")
        self.steps, self.done, self.per_chunk = steps, done, per_chunk
        self.reasonings: list[str] = []  # each distinct reasoning, in order
        self.frames: list[tuple[float, np.ndarray]] = []  # (stamp s, RGB) every film_every_s
        self.film_every_s = film_every_s
        if film_camera:
            self.create_subscription(Image, f"cameras/{film_camera}/image_raw", self.on_image, SENSOR_QOS)
        self.step = 0
        self.reasoning = ""
        self.positions: np.ndarray | None = None
        self.names: list[str] = []
        self.previous: np.ndarray | None = None
        self.instruction_pub = self.create_publisher(String, "chatvla/instruction", INSTRUCTION_QOS)
        self.instruction_pub.publish(String(data=instruction))
        self.create_subscription(String, "chatvla/reasoning", self.on_reasoning, COMMAND_QOS)
        self.create_subscription(JointTrajectory, "chatvla/action_chunk", self.on_chunk, COMMAND_QOS)
        self.create_subscription(JointState, "joint_states", self.on_joint_state, SENSOR_QOS)
        if per_chunk:
            print(f"instruction: {instruction}", flush=True)

    def on_reasoning(self, msg: String) -> None:
        self.reasoning = msg.data
        if not self.reasonings or self.reasonings[-1] != msg.data:
            self.reasonings.append(msg.data)
            if not self.per_chunk:
                print(f"  reasoning: {msg.data}", flush=True)

    def on_image(self, msg: Image) -> None:
        stamp_s = time_to_seconds(msg.header.stamp)
        if self.frames and stamp_s - self.frames[-1][0] < self.film_every_s:
            return
        try:
            self.frames.append((stamp_s, image_msg_to_array(msg)))
        except ValueError as error:
            self.get_logger().warning(f"frame not filmed: {error}", throttle_duration_sec=5.0)

    def on_joint_state(self, msg: JointState) -> None:
        self.names, self.positions = list(msg.name), np.asarray(msg.position)

    def on_chunk(self, msg: JointTrajectory) -> None:
        if self.done.is_set():
            return
        self.step += 1
        if not self.per_chunk:
            return
        arm = "no joint state yet"
        if self.positions is not None:
            moved = self.positions - (self.previous if self.previous is not None else self.positions)
            joint = int(np.argmax(np.abs(moved)))
            arm = (f"{self.names[joint]} at {self.positions[joint]:+.3f} "
                   f"(moved {moved[joint]:+.3f} since last step), "
                   f"chunk of {len(msg.points)} steps")
            self.previous = self.positions.copy()
        print(f"[step {self.step:3d}] reasoning: {self.reasoning}\n"
              f"           arm: {arm}", flush=True)
        if self.steps and self.step >= self.steps:
            self.done.set()


@contextlib.contextmanager
def signals_set(event: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `event` (and nothing else) for the duration of the block.

    rclpy's own handlers would shut the context down under the executor's feet, a race that
    surfaces as "failed to initialize wait set"; here the spin loop sees the event and ends.
    """
    previous = {sig: signal.signal(sig, lambda *_: event.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ComposedStack:
    """The stack's nodes in one process on one multi-threaded executor, with their own context."""

    def __init__(self, params_file: Path, instruction: str, monitor_options: dict,
                 sim_overrides: list[Parameter] | None = None) -> None:
        if not params_file.is_file():
            raise FileNotFoundError(f"parameter file '{params_file}' does not exist")
        rclpy.init(args=["--ros-args", "--params-file", str(params_file)],
                   signal_handler_options=SignalHandlerOptions.NO)
        self.done = threading.Event()
        self.nodes: list[Node] = []
        self.executor = MultiThreadedExecutor(num_threads=4)
        try:
            self.sim_arm = SimArmNode(parameter_overrides=sim_overrides or [])
            self.nodes.append(self.sim_arm)
            # The MuJoCo backend renders the cameras itself and its scene defines the task.
            self.simulated_scene = self.sim_arm.backend == "mujoco"
            if self.simulated_scene:
                instruction = self.sim_arm.arm.scene.instruction
            else:
                self.nodes.append(CameraNode())
            controller = ArmControllerNode()
            self.nodes.append(controller)
            inference = InferenceNode()
            self.nodes.append(inference)
            self.monitor = StackMonitor(instruction, done=self.done, **monitor_options)
            self.nodes.append(self.monitor)
            # Both are lifecycle nodes; the stack is their lifecycle manager, in main()'s order.
            start_controller(controller)
            start_inference(inference)
            for node in self.nodes:
                self.executor.add_node(node)
        except BaseException:
            self.close()
            raise

    def spin_until(self, finished: Callable[[], bool], stop: threading.Event) -> None:
        while not (self.done.is_set() or stop.is_set() or finished()):
            self.executor.spin_once(timeout_sec=0.1)

    def close(self) -> None:
        # rclpy's MultiThreadedExecutor destroys its guard condition before its worker threads
        # finish; letting in-flight callbacks drain first avoids a spurious InvalidHandle report.
        for node in self.nodes:
            self.executor.remove_node(node)
        time.sleep(0.2)
        self.executor.shutdown()
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown()


def run_stack(params_file: Path, steps: int, instruction: str) -> int:
    """Spin the composed stack until `steps` chunks were seen (0: until Ctrl-C/SIGTERM)."""
    stop = threading.Event()
    with signals_set(stop):
        stack = ComposedStack(params_file, instruction, {"steps": steps})
        try:
            stack.spin_until(lambda: False, stop)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            stack.close()
    print(f"stack stopped after {stack.monitor.step} steps", flush=True)
    return 0


def run_trials(params_file: Path, trials: int, trial_seconds: float, out_dir: Path) -> list[bool]:
    """One fresh stack per MuJoCo scene (seeds from the parameter file's on); stops a trial at
    success, a wrong card lifted, or `trial_seconds` of simulated time. Prints each trial and
    returns whether each finished trial picked the right card. Scoring: chatvla2.sim.trials."""
    from chatvla2.sim.trials import TrialResult, ground_truth, save_strip, summary_line, trial_over

    stop = threading.Event()
    results: list[TrialResult] = []
    with signals_set(stop):
        first_seed = None
        for trial in range(trials):
            if stop.is_set():
                break
            overrides = [] if first_seed is None else [Parameter("seed", value=first_seed + trial)]
            stack = ComposedStack(params_file, "", {"steps": 0, "per_chunk": False, "film_camera": "front"},
                                  overrides)
            try:
                if not stack.simulated_scene:
                    raise ValueError(f"trials need the MuJoCo sim arm (sim_arm backend: mujoco in {params_file})")
                arm = stack.sim_arm.arm
                scene = arm.scene
                first_seed = scene.seed if first_seed is None else first_seed
                print(f"\ntrial {trial + 1}/{trials}: {scene.split} scene, seed {scene.seed} "
                      f"(ground truth: {ground_truth(scene)})\n  instruction: {scene.instruction}", flush=True)
                stack.spin_until(lambda: trial_over(scene, stack.sim_arm.last_outcome, arm.time_s, trial_seconds), stop)
                success, reason = stack.sim_arm.last_outcome
                result = TrialResult(scene.seed, success, reason, arm.time_s, list(stack.monitor.reasonings))
                frames = [frame for _, frame in stack.monitor.frames]
            finally:
                stack.close()
            if not result.success and stop.is_set():
                print(f"  interrupted after {result.elapsed_s:.1f} s simulated", flush=True)
                break
            print(f"  result: {result.verdict} ({result.reason}) after {result.elapsed_s:.1f} s simulated", flush=True)
            strip = save_strip(result, scene, frames, out_dir / f"trial_{trial + 1}_seed_{scene.seed}.png")
            if strip is not None:
                print(f"  strip: {strip}", flush=True)
            results.append(result)
    if results:
        print(f"\n{summary_line(results)}", flush=True)
    return [r.success for r in results]

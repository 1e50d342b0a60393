"""Run the whole stack composed in one process (the ROS 2 composition pattern) and report.

camera -> inference -> arm_controller -> sim_arm, plus a monitor that publishes the instruction
(transient-local), prints one line per action chunk (the reasoning and what the arm did) and ends
the run after a number of steps. Ctrl-C and SIGTERM end it cleanly.
"""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.ros.arm_controller_node import ArmControllerNode
from chatvla2.ros.camera_node import CameraNode
from chatvla2.ros.inference_node import InferenceNode, start_inference
from chatvla2.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS
from chatvla2.ros.sim_arm_node import SimArmNode


class StackMonitor(Node):
    """Publishes the instruction and prints, per chunk, the reasoning and the arm's motion."""

    def __init__(self, instruction: str, steps: int, done: threading.Event) -> None:
        super().__init__("stack_monitor")
        self.steps, self.done = steps, done
        self.step = 0
        self.reasoning = ""
        self.positions: np.ndarray | None = None
        self.names: list[str] = []
        self.previous: np.ndarray | None = None
        self.instruction_pub = self.create_publisher(String, "/chatvla/instruction", INSTRUCTION_QOS)
        self.instruction_pub.publish(String(data=instruction))
        self.create_subscription(String, "/chatvla/reasoning", self.on_reasoning, COMMAND_QOS)
        self.create_subscription(JointTrajectory, "/chatvla/action_chunk", self.on_chunk, COMMAND_QOS)
        self.create_subscription(JointState, "/joint_states", self.on_joint_state, SENSOR_QOS)
        print(f"instruction: {instruction}", flush=True)

    def on_reasoning(self, msg: String) -> None:
        self.reasoning = msg.data

    def on_joint_state(self, msg: JointState) -> None:
        self.names, self.positions = list(msg.name), np.asarray(msg.position)

    def on_chunk(self, msg: JointTrajectory) -> None:
        if self.done.is_set():
            return
        self.step += 1
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


def run_stack(params_file: Path, steps: int, instruction: str) -> int:
    """Spin the composed stack until `steps` chunks were seen (0: until Ctrl-C/SIGTERM)."""
    if not params_file.is_file():
        raise FileNotFoundError(f"parameter file '{params_file}' does not exist")
    # Our own handlers only ask the spin loop to end; rclpy's would shut the context down under
    # the executor's feet (a race that surfaces as "failed to initialize wait set").
    rclpy.init(args=["--ros-args", "--params-file", str(params_file)],
               signal_handler_options=SignalHandlerOptions.NO)
    done = threading.Event()
    previous_handlers = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    nodes: list[Node] = []
    executor = MultiThreadedExecutor(num_threads=4)
    try:
        sim_arm, inference = SimArmNode(), InferenceNode()
        # The MuJoCo backend renders the cameras itself and its scene defines the task.
        simulated_scene = sim_arm.backend == "mujoco"
        if simulated_scene:
            instruction = sim_arm.arm.scene.instruction
        cameras = [] if simulated_scene else [CameraNode()]
        nodes = [sim_arm, ArmControllerNode(), inference, *cameras, StackMonitor(instruction, steps, done)]
        # The inference node is a lifecycle node; the stack is its lifecycle manager.
        start_inference(inference)
        for node in nodes:
            executor.add_node(node)
        while not done.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # rclpy's MultiThreadedExecutor destroys its guard condition before its worker threads
        # finish; letting in-flight callbacks drain first avoids a spurious InvalidHandle report.
        for node in nodes:
            executor.remove_node(node)
        time.sleep(0.2)
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    print(f"stack stopped after {nodes[-1].step if nodes else 0} steps", flush=True)
    return 0

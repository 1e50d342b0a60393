"""Simulated arm node: accepts JointTrajectory commands like franka_ros2's joint trajectory
controller and publishes /joint_states, so the controller cannot tell it from a real driver.

backend "kinematic": joints track the last trajectory point at their velocity limits (no cameras).
backend "mujoco": the MuJoCo task scene (parameters task/seed/split) follows the trajectory
through time, publishes /cameras/<name>/image_raw + camera_info from the simulator and, with
publish_clock, the simulated time on /clock (stamps then use simulated time). Nodes that set
use_sim_time then measure every age and timeout in simulated seconds, so a machine too slow for
real time (real_time_factor below 1) slows the whole loop down instead of starving it.
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot_state import vendor_joint_state
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import duration_to_seconds, node_now_s, seconds_to_time, time_to_seconds
from chatvla2.ros.image_conversion import array_to_image_msg
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS
from chatvla2.sim.kinematic_arm import KinematicArm
from chatvla2.sim.tasks import task_names


class SimArmNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim_arm", **kwargs)
        robot = load_robot_spec(declare(self, "robot", "franka_fr3", "Robot description name or YAML path"))
        rate_hz = declare(self, "publish_rate_hz", 100.0, "Simulation steps and /joint_states per second")
        command_topic = declare(self, "command_topic", "fr3_arm_controller/joint_trajectory",
                                "JointTrajectory topic this arm obeys")
        self.backend = declare(self, "backend", "kinematic", "kinematic | mujoco")
        self.publish_clock = declare(self, "publish_clock", False, "Publish simulated time on /clock")
        speed = declare(self, "real_time_factor", 1.0, "Simulated seconds per wall second (1: real time; below 1 "
                        "gives a slow machine time, with publish_clock and use_sim_time in the other nodes)")
        if not speed > 0:
            raise ValueError(f"sim_arm parameter real_time_factor must be > 0, got {speed}")
        self.robot, self.names = robot, list(robot.command_names)
        self.dt_s = 1.0 / rate_hz
        if self.backend == "mujoco":
            self._make_mujoco(robot)
        elif self.backend == "kinematic":
            self.arm = KinematicArm(robot)
        else:
            raise ValueError(f"sim_arm parameter backend must be 'kinematic' or 'mujoco', got '{self.backend}'")
        self.create_subscription(JointTrajectory, command_topic, self.on_command, COMMAND_QOS)
        self.state_pub = self.create_publisher(JointState, "joint_states", 10)
        self.clock_pub = self.create_publisher(Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)) \
            if self.publish_clock else None
        self.create_timer(self.dt_s / speed, self.on_step)

    def _make_mujoco(self, robot) -> None:
        from chatvla2.sim.env import SimConfig
        from chatvla2.sim.sim_arm import MujocoArm

        size = declare(self, "image_size_px", 224, "Square camera image size")
        self.cameras = list(declare(self, "cameras", ["front", "wrist"], "Simulated cameras to publish"))
        camera_hz = declare(self, "camera_rate_hz", 10.0, "Camera frames per simulated second")
        self.arm = MujocoArm(robot, declare(self, "task", "math", "A task of chatvla2.sim.tasks: " + " | ".join(task_names())),
                             declare(self, "seed", 0, "Scene seed"), declare(self, "split", "train", "Scene split"),
                             SimConfig(image_height_px=size, image_width_px=size, cameras=tuple(self.cameras)))
        self.frame_every = max(1, int(round(1.0 / (camera_hz * self.dt_s))))
        self.step_count = 0
        # (success, reason) from the simulator's ground truth, refreshed with every camera frame
        # inside this node's own callback, so readers never race the physics step.
        self.last_outcome: tuple[bool, str] = (False, "not started")
        self.image_pubs = {c: self.create_publisher(Image, f"cameras/{c}/image_raw", SENSOR_QOS) for c in self.cameras}
        self.info_pubs = {c: self.create_publisher(CameraInfo, f"cameras/{c}/camera_info", SENSOR_QOS)
                          for c in self.cameras}
        self.get_logger().info(f"MuJoCo {self.arm.scene.task} scene, seed {self.arm.scene.seed}: "
                               f"'{self.arm.scene.instruction}'")

    def now_s(self) -> float:
        if self.backend == "mujoco" and self.publish_clock:
            return self.arm.time_s
        return node_now_s(self)

    def on_command(self, msg: JointTrajectory) -> None:
        try:
            if not msg.points:
                raise ValueError("command has no points")
            points = columns_by_name(msg.joint_names, np.array([list(p.positions) for p in msg.points], dtype=float),
                                     self.names, "command", exact=True)  # (P, J)
            if self.backend == "mujoco":
                stamp_s = time_to_seconds(msg.header.stamp)
                # A zero stamp means "start now" (JointTrajectoryController semantics).
                start_s = self.arm.time_s + (stamp_s - self.now_s() if stamp_s > 0 else 0.0)
                times = [duration_to_seconds(p.time_from_start) for p in msg.points]
                self.arm.follow(self.names, start_s, times, points)
                return
            self.arm.command(points[-1])
        except ValueError as error:
            self.get_logger().error(f"ignored command: {error}", throttle_duration_sec=5.0)

    def on_step(self) -> None:
        if self.backend == "mujoco":
            self.arm.advance(self.dt_s)
            positions, velocities = self.arm.joint_state()
        else:
            self.arm.step(self.dt_s)
            positions, velocities = self.arm.positions, self.arm.velocities
        stamp = seconds_to_time(self.now_s())
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=stamp))
        msg = JointState()
        msg.header.stamp = stamp
        # As the vendor publishes it (franka_ros2: two finger joints, each half the opening)
        msg.name, vendor_positions = vendor_joint_state(self.robot, positions)
        msg.position = vendor_positions.tolist()
        msg.velocity = vendor_joint_state(self.robot, velocities)[1].tolist()
        self.state_pub.publish(msg)
        if self.backend == "mujoco":
            self.step_count += 1
            if self.step_count % self.frame_every == 0:
                self.publish_frames(stamp)
                self.last_outcome = self.arm.outcome()

    def publish_frames(self, stamp) -> None:
        for camera in self.cameras:
            frame = self.arm.render(camera)  # (H, W, 3) uint8 RGB
            frame_id = f"{camera}_camera_optical_frame"
            self.image_pubs[camera].publish(array_to_image_msg(frame, "rgb8", stamp, frame_id))
            info = CameraInfo()
            info.header.stamp, info.header.frame_id = stamp, frame_id
            info.height, info.width = frame.shape[:2]
            info.k = self.arm.camera_matrix(camera).ravel().tolist()
            info.distortion_model = "plumb_bob"
            info.d = [0.0] * 5
            info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            p = np.zeros((3, 4))
            p[:, :3] = self.arm.camera_matrix(camera)
            info.p = p.ravel().tolist()
            self.info_pubs[camera].publish(info)


    def destroy_node(self) -> None:
        if self.backend == "mujoco":
            self.arm.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(SimArmNode, args)

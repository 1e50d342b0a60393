"""The camera node publishes camera_info with the intrinsics of its calibration_file, and refuses a
calibration made for another image size."""
from __future__ import annotations

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo

from chatvla2.ros.camera_node import CameraNode
from chatvla2.ros.qos import SENSOR_QOS

from ros_testing import REPO

CALIBRATION = str(REPO / "config" / "cameras" / "example_320x240.yaml")


def test_camera_info_carries_the_calibration(rclpy_context):
    node = CameraNode(context=rclpy_context, parameter_overrides=[
        Parameter("calibration_file", value=CALIBRATION), Parameter("frame_rate_hz", value=20.0)])
    probe = rclpy.create_node("camera_probe", context=rclpy_context)
    infos = []
    probe.create_subscription(CameraInfo, "/cameras/front/camera_info", infos.append, SENSOR_QOS)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        for _ in range(200):
            executor.spin_once(timeout_sec=0.02)
            if infos:
                break
        assert infos, "no camera_info"
        info = infos[-1]
        assert list(info.k) == [277.13, 0.0, 160.0, 0.0, 277.13, 120.0, 0.0, 0.0, 1.0]
        assert info.distortion_model == "plumb_bob" and len(info.d) == 5 and info.p[2] == 160.0
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def test_a_calibration_for_another_size_is_refused(rclpy_context):
    with pytest.raises(ValueError, match="320x240 images, the camera publishes 640x480"):
        CameraNode(context=rclpy_context, parameter_overrides=[
            Parameter("calibration_file", value=CALIBRATION), Parameter("width", value=640),
            Parameter("height", value=480)])

"""Camera node: publishes frames from a configured source as sensor_msgs/Image (rgb8) and its
sensor_msgs/CameraInfo, with intrinsics from a camera_calibration YAML when one is given."""
from __future__ import annotations

from sensor_msgs.msg import CameraInfo, Image
from rclpy.node import Node

from chatvla2.imaging.calibration import load_calibration
from chatvla2.imaging.sources import CameraSourceError, open_source
from chatvla2.ros.image_conversion import array_to_image_msg
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import SENSOR_QOS


class CameraNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("camera", **kwargs)
        self.camera_name = declare(self, "camera_name", "front", "Name used in /cameras/<name>/...")
        source_uri = declare(self, "source", "synthetic:3 + 4 = ?",
                             "synthetic:[TEXT] | folder:DIR | video:FILE | v4l2:DEVICE")
        rate_hz = declare(self, "frame_rate_hz", 10.0, "Frames published per second")
        self.width = declare(self, "width", 320, "Image width in pixels")
        self.height = declare(self, "height", 240, "Image height in pixels")
        self.frame_id = declare(self, "frame_id", "front_camera_optical_frame", "TF frame of the images")
        calibration_file = declare(self, "calibration_file", "", "camera_calibration YAML (cameracalibrator's output) for camera_info's K, D, R, P; empty: none")
        self.calibration = load_calibration(calibration_file) if calibration_file else None
        if self.calibration is not None and (self.calibration.width_px, self.calibration.height_px) != (self.width, self.height):
            raise ValueError(f"calibration {calibration_file} is for {self.calibration.width_px}x{self.calibration.height_px} "
                             f"images, the camera publishes {self.width}x{self.height}")
        self.source = open_source(source_uri, self.width, self.height)
        prefix = f"cameras/{self.camera_name}"
        self.image_pub = self.create_publisher(Image, f"{prefix}/image_raw", SENSOR_QOS)
        self.info_pub = self.create_publisher(CameraInfo, f"{prefix}/camera_info", SENSOR_QOS)
        self.timer = self.create_timer(1.0 / rate_hz, self.publish_frame)
        self.get_logger().info(f"camera '{self.camera_name}' from {source_uri} at {rate_hz} Hz")

    def publish_frame(self) -> None:
        try:
            frame = self.source.read()  # (H, W, 3) uint8 RGB
        except CameraSourceError as error:
            self.get_logger().error(str(error), throttle_duration_sec=5.0)
            return
        stamp = self.get_clock().now().to_msg()
        self.image_pub.publish(array_to_image_msg(frame, "rgb8", stamp, self.frame_id))
        info = CameraInfo()
        info.header.stamp, info.header.frame_id = stamp, self.frame_id
        info.height, info.width = self.height, self.width
        if self.calibration is not None:
            c = self.calibration
            info.k, info.d, info.r, info.p = c.k.ravel().tolist(), c.d.tolist(), c.r.ravel().tolist(), c.p.ravel().tolist()
            info.distortion_model = c.distortion_model
        self.info_pub.publish(info)

    def destroy_node(self) -> None:
        self.source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(CameraNode, args)

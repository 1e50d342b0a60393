"""sensor_msgs/Image <-> NumPy. Uses the system cv_bridge of a real ROS 2 install when present.

The PyPI `cv-bridge` is an unmaintained pure-Python port that breaks under NumPy 2, so it is never
used; without a system cv_bridge the conversion follows the encoding rules in chatvla2.imaging.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from chatvla2.imaging.encoding import ImageFields, array_to_fields, fields_to_array


def _system_cv_bridge():
    try:
        import cv_bridge
    except ImportError:
        return None
    # A real ROS 2 install ships cv_bridge under /opt/ros/<distro>; anything else is the PyPI port.
    return cv_bridge.CvBridge() if "/opt/ros/" in (cv_bridge.__file__ or "") else None


_BRIDGE = _system_cv_bridge()


def image_msg_to_array(msg: Image) -> np.ndarray:
    """Decode an Image; raises ImageEncodingError (a ValueError) for a malformed message."""
    fields = ImageFields(height=msg.height, width=msg.width, encoding=msg.encoding,
                         is_bigendian=bool(msg.is_bigendian), step=msg.step, data=bytes(msg.data))
    if _BRIDGE is not None:
        fields_to_array(fields)  # validates size and encoding with our clear errors first
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    return fields_to_array(fields)


def array_to_image_msg(array: np.ndarray, encoding: str, stamp: Time, frame_id: str) -> Image:
    fields = array_to_fields(array, encoding)
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = fields.height, fields.width
    msg.encoding = fields.encoding
    msg.is_bigendian = int(fields.is_bigendian)
    msg.step = fields.step
    msg.data = fields.data
    return msg

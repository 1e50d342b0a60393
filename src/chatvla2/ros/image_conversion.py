"""sensor_msgs/Image <-> NumPy, by the encoding rules in chatvla2.imaging on every machine.

One decoder everywhere: the same code (and its clear errors for malformed messages) runs here and
on a lab PC with a full ROS 2 install. The system cv_bridge is not used: it decoded every frame a
second time after our validation and adds no encoding we need; the PyPI `cv-bridge` is an
unmaintained pure-Python port that breaks under NumPy 2.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from chatvla2.imaging.encoding import ImageFields, array_to_fields, fields_to_array


def image_msg_to_array(msg: Image) -> np.ndarray:
    """Decode an Image; raises ImageEncodingError (a ValueError) for a malformed message."""
    return fields_to_array(ImageFields(height=msg.height, width=msg.width, encoding=msg.encoding,
                                       is_bigendian=bool(msg.is_bigendian), step=msg.step, data=bytes(msg.data)))


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

"""sensor_msgs/Image messages <-> arrays through the ROS boundary module."""
import numpy as np
import pytest
from builtin_interfaces.msg import Time

from chatvla2.imaging.encoding import ImageEncodingError
from chatvla2.ros.image_conversion import array_to_image_msg, image_msg_to_array


@pytest.mark.parametrize("encoding,shape,dtype", [
    ("rgb8", (4, 6, 3), np.uint8), ("bgr8", (4, 6, 3), np.uint8), ("mono8", (4, 6), np.uint8),
    ("mono16", (4, 6), np.uint16), ("32FC1", (4, 6), np.float32)])
def test_message_round_trip(encoding, shape, dtype):
    array = (np.arange(np.prod(shape)) % 250).astype(dtype).reshape(shape)
    msg = array_to_image_msg(array, encoding, Time(sec=3, nanosec=5), "cam")
    assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (4, 6, encoding, "cam")
    assert msg.step == 6 * array.itemsize * (3 if len(shape) == 3 else 1)
    np.testing.assert_array_equal(image_msg_to_array(msg), array)


def test_truncated_message_is_rejected():
    msg = array_to_image_msg(np.zeros((4, 4, 3), np.uint8), "rgb8", Time(), "cam")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ImageEncodingError, match="needs 48 bytes"):
        image_msg_to_array(msg)

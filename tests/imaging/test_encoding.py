"""sensor_msgs/Image encoding rules: round trips, row padding, byte order, bad messages."""
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatvla2.imaging.encoding import (ENCODINGS, ImageEncodingError, ImageFields, array_to_fields,
                                       fields_to_array, to_rgb8)


def random_image(encoding: str, height: int, width: int, seed: int) -> np.ndarray:
    layout = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    if layout.dtype == np.float32:
        return rng.normal(size=shape).astype(np.float32)
    return rng.integers(0, np.iinfo(layout.dtype).max, size=shape, dtype=layout.dtype)


@settings(max_examples=60, deadline=None)
@given(encoding=st.sampled_from(sorted(ENCODINGS)), height=st.integers(1, 9),
       width=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_round_trip_is_exact(encoding, height, width, seed):
    image = random_image(encoding, height, width, seed)
    decoded = fields_to_array(array_to_fields(image, encoding))
    assert decoded.dtype == image.dtype
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_row_padding_is_dropped(encoding):
    image = random_image(encoding, 3, 5, seed=1)
    packed = array_to_fields(image, encoding)
    padding = 7
    rows = [packed.data[r * packed.step:(r + 1) * packed.step] + b"\xee" * padding for r in range(3)]
    padded = ImageFields(3, 5, encoding, packed.is_bigendian, packed.step + padding, b"".join(rows))
    np.testing.assert_array_equal(fields_to_array(padded), image)


@pytest.mark.parametrize("encoding", ["mono16", "32FC1"])
def test_foreign_byte_order_is_swapped(encoding):
    image = random_image(encoding, 4, 4, seed=2)
    foreign = ">" if sys.byteorder == "little" else "<"
    data = image.astype(image.dtype.newbyteorder(foreign)).tobytes()
    fields = ImageFields(4, 4, encoding, foreign == ">", 4 * image.dtype.itemsize, data)
    np.testing.assert_array_equal(fields_to_array(fields), image)


def test_mono16_big_endian_known_value():
    fields = ImageFields(1, 1, "mono16", True, 2, b"\x01\x02")
    assert fields_to_array(fields)[0, 0] == 0x0102


def test_size_mismatch_is_rejected_with_numbers():
    fields = ImageFields(2, 2, "rgb8", False, 6, b"\x00" * 11)
    with pytest.raises(ImageEncodingError, match="needs 12 bytes of data, got 11"):
        fields_to_array(fields)


@pytest.mark.parametrize("height, width", [(0, 4), (4, 0), (0, 0)])
def test_an_image_without_pixels_is_rejected_at_the_input(height, width):
    # It used to decode to an empty array and surface later as "policy returned non-finite actions".
    with pytest.raises(ImageEncodingError, match=f"empty or negative image size {height}x{width}"):
        fields_to_array(ImageFields(height, width, "rgb8", False, 3 * width, b""))


def test_step_smaller_than_row_is_rejected():
    with pytest.raises(ImageEncodingError, match="step 5 is smaller"):
        fields_to_array(ImageFields(1, 2, "rgb8", False, 5, b"\x00" * 5))


def test_unknown_encoding_is_rejected():
    with pytest.raises(ImageEncodingError, match="unsupported image encoding 'yuv422'"):
        fields_to_array(ImageFields(1, 1, "yuv422", False, 2, b"\x00\x00"))


def test_array_of_wrong_dtype_is_rejected():
    with pytest.raises(ImageEncodingError, match="needs dtype uint16"):
        array_to_fields(np.zeros((2, 2), np.uint8), "mono16")


def test_bgr_to_rgb_swaps_channels():
    bgr = np.zeros((1, 1, 3), np.uint8)
    bgr[0, 0] = (10, 20, 30)
    assert to_rgb8(bgr, "bgr8")[0, 0].tolist() == [30, 20, 10]


def test_depth_to_rgb_ignores_nan_and_scales_to_peak():
    depth = np.array([[np.nan, 1.0], [2.0, 4.0]], np.float32)
    rgb = to_rgb8(depth, "32FC1")
    assert rgb.shape == (2, 2, 3)
    assert rgb[0, 0, 0] == 0 and rgb[1, 1, 0] == 255 and rgb[0, 1, 0] == 63

"""CompressedImage payloads: PNG round-trips exactly, JPEG within its loss, bad data is refused."""
import numpy as np
import pytest

from chatvla2.imaging.compressed import compressed_format, decode_compressed, encode_compressed
from chatvla2.imaging.encoding import ImageEncodingError


def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[..., 0] = 200  # red: a channel swap would show
    image[10:30, 10:40] = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    return image


def test_png_round_trip_is_exact_and_rgb():
    payload, fmt = encode_compressed(picture(), "png")
    assert fmt == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(decode_compressed(payload, fmt), picture())


def test_jpeg_from_a_plain_driver_decodes_in_rgb_order():
    payload, _ = encode_compressed(picture(), "jpeg", jpeg_quality=95)
    decoded = decode_compressed(payload, "jpeg")
    assert decoded.shape == (48, 64, 3)
    assert abs(float(decoded[40:, :, 0].mean()) - 200) < 3 and float(decoded[40:, :, 2].mean()) < 5


@pytest.mark.parametrize("fmt", ["", "tiff", "bgr8; theora"])
def test_unknown_formats_are_refused(fmt):
    with pytest.raises(ImageEncodingError, match="neither jpeg nor png"):
        compressed_format(fmt)


def test_corrupt_payload_is_refused():
    with pytest.raises(ImageEncodingError, match="cannot decode"):
        decode_compressed(b"\x89PNG not really", "png")

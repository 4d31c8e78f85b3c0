"""Image readers on broken and unusual files: one-line ImageFileError, never a crash or a
memory blow-up (a file that declares a huge size is refused from its header)."""

import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from nublur.io import ImageFileError, read_image


@pytest.fixture
def rgb():
    return (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)


def one_line_error(path, match=None):
    with pytest.raises(ImageFileError, match=match) as info:
        read_image(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_and_corrupted_files(tmp_path, rgb, ext):
    good = tmp_path / f"good{ext}"
    iio.imwrite(good, rgb)
    data = good.read_bytes()
    truncated = tmp_path / f"truncated{ext}"
    truncated.write_bytes(data[: len(data) // 2])
    one_line_error(truncated)
    corrupted = tmp_path / f"corrupted{ext}"
    corrupted.write_bytes(data[:8] + bytes(reversed(data[8:64])) + b"\x00" * (len(data) - 64))
    one_line_error(corrupted)
    empty = tmp_path / f"empty{ext}"
    empty.write_bytes(b"")
    one_line_error(empty)


def png_declaring(width, height):
    """A tiny PNG whose header declares width x height pixels (data for one row only)."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
            ">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(60000, 60000))
    one_line_error(bomb, "pixels")


def test_sixteen_bit_palette_alpha_and_cmyk(tmp_path, rgb):
    deep = tmp_path / "deep.png"
    iio.imwrite(deep, (rgb[..., 0].astype(np.uint16) * 257))
    image, info = read_image(deep)
    assert info.dtype == np.uint16 and image.ndim == 2 and image.max() <= 1

    palette = tmp_path / "palette.png"
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16).save(palette)
    image, _ = read_image(palette)
    assert image.shape == (20, 24, 3)

    alpha = tmp_path / "alpha.png"
    iio.imwrite(alpha, np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]))
    image, _ = read_image(alpha)
    np.testing.assert_allclose(image, rgb / 255.0, atol=1e-6)

    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(cmyk, quality=95)
    image, info = read_image(cmyk)
    assert image.shape == (20, 24, 3)
    assert np.abs(image - rgb / 255.0).mean() < 0.08  # colours, not CMYK channels

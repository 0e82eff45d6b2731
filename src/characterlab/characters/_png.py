"""PNG as a character card container: the card JSON travels base64-encoded in ``tEXt`` chunks.

Only the chunk layer of PNG is read here (signature, length, type, CRC), never the pixels, so a card is read
without decoding its image and a given PNG is written back byte for byte except for the card chunks. Pillow is
used only to draw a placeholder portrait and to turn a JPEG or WebP portrait into a PNG.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from characterlab.errors import CardError

__all__ = [
    "CARD_KEYWORDS",
    "PNG_SIGNATURE",
    "card_texts",
    "image_as_png",
    "placeholder_png",
    "with_card_texts",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The eight bytes every PNG file starts with."""

CARD_KEYWORDS = ("chara", "ccv3")
"""``tEXt`` keywords that hold a card: ``chara`` for V1/V2, ``ccv3`` for V3 (compared case-insensitively)."""

_MAX_CHUNK_LENGTH = 2**31 - 1  # the PNG specification's limit on a chunk's data length
_TEXT = b"tEXt"
_END = b"IEND"


@dataclass(frozen=True)
class _Chunk:
    """One chunk of a PNG file, with where its bytes lie in the file."""

    index: int
    """0-based position among the file's chunks."""
    type: bytes
    data: bytes
    start: int
    """Offset of the chunk's length field in the file."""
    end: int
    """Offset just past the chunk's CRC."""

    @property
    def name(self) -> str:
        """How the chunk is named in error messages, e.g. ``chunk 3 (tEXt)``."""
        kind = self.type.decode("latin-1") if self.type.isalpha() else self.type.hex()
        return f"chunk {self.index} ({kind})"


def card_texts(png: bytes, *, source: str) -> dict[str, str]:
    """Read the card chunks of a PNG file.

    Args:
        png: The whole file.
        source: How to name the file in error messages.

    Returns:
        The text of the first ``chara`` and the first ``ccv3`` ``tEXt`` chunk, keyed by lowercase keyword; only
        the keywords present appear.

    Raises:
        CardError: if the file is not a well-formed PNG (signature, chunk lengths, CRCs, ``IEND``).
    """
    texts: dict[str, str] = {}
    for chunk in _chunks(png, source=source):
        keyword = _card_keyword(chunk)
        if keyword is not None:
            # tEXt is Latin-1 by definition, and every byte decodes in Latin-1.
            texts.setdefault(keyword, chunk.data.partition(b"\0")[2].decode("latin-1"))
    return texts


def with_card_texts(png: bytes, texts: dict[str, str], *, source: str) -> bytes:
    """Replace the card chunks of a PNG file, keeping every other byte of it.

    Every ``tEXt`` chunk whose keyword is ``chara`` or ``ccv3`` (in any letter case) is removed, then one
    ``tEXt`` chunk per entry of ``texts`` is inserted before ``IEND``, in the order given.

    Args:
        png: The whole file.
        texts: Keyword to text (ASCII, as base64 is).
        source: How to name the file in error messages.

    Raises:
        CardError: if the file is not a well-formed PNG.
    """
    chunks = list(_chunks(png, source=source))
    kept = bytearray(PNG_SIGNATURE)
    for chunk in chunks:
        if chunk.type == _END:
            for keyword, text in texts.items():
                kept += _encode_chunk(_TEXT, keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
            kept += png[chunk.start :]  # IEND and anything a writer left after it
            break
        if _card_keyword(chunk) is not None:
            continue
        kept += png[chunk.start : chunk.end]
    return bytes(kept)


def placeholder_png(name: str) -> bytes:
    """Draw a 400×600 portrait for a character that has none: its initial and name on a soft colour.

    The colour is derived from the name, so the same character always gets the same picture.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    hue = digest[0] / 255
    background = _rgb(hue, lightness=0.86, saturation=0.45)
    ink = _rgb(hue, lightness=0.25, saturation=0.35)
    image = Image.new("RGB", (400, 600), background)
    draw = ImageDraw.Draw(image)
    initial = name.strip()[:1].upper() or "?"
    draw.text((200, 260), initial, font=ImageFont.load_default(size=220), fill=ink, anchor="mm")
    label = name if len(name) <= 24 else name[:23] + "…"
    draw.text((200, 470), label, font=ImageFont.load_default(size=30), fill=ink, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_as_png(path: Path) -> bytes:
    """Read a portrait for a card: a PNG as it is, a JPEG or WebP (or anything Pillow reads) converted to PNG.

    Args:
        path: The image file.

    Raises:
        CardError: if the file cannot be read or is not an image Pillow understands.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CardError.single(path, f"cannot read the image ({error.strerror or error})") from None
    if data.startswith(PNG_SIGNATURE):
        return data
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # A photo's EXIF orientation is lost in PNG, so bake it into the pixels.
            image = ImageOps.exif_transpose(opened)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            converted = image.convert("RGBA" if has_alpha else "RGB")
            buffer = io.BytesIO()
            converted.save(buffer, format="PNG")
    # Pillow signals an unreadable image with any of these, depending on the format's decoder.
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise CardError.single(path, f"expected a PNG, JPEG or WebP image ({error})") from None
    return buffer.getvalue()


def _chunks(png: bytes, *, source: str) -> Iterator[_Chunk]:
    if not png.startswith(PNG_SIGNATURE):
        raise CardError.single(source, "expected a PNG file; it does not start with the PNG signature")
    offset = len(PNG_SIGNATURE)
    index = 0
    while True:
        if offset + 8 > len(png):
            raise CardError.single(
                source, f"expected chunk {index} at byte {offset}, but the file ends there; it ends without IEND"
            )
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        where = f"chunk {index}"
        if length > _MAX_CHUNK_LENGTH:
            raise CardError.single(source, f"declares {length} bytes; a PNG chunk holds at most 2³¹-1", field=where)
        end = offset + 12 + length
        if end > len(png):
            raise CardError.single(
                source, f"truncated: declares {length} data bytes, the file ends before them", field=where
            )
        data = png[offset + 8 : offset + 8 + length]
        chunk = _Chunk(index=index, type=kind, data=data, start=offset, end=end)
        (crc,) = struct.unpack(">I", png[end - 4 : end])
        if crc != zlib.crc32(kind + data):
            raise CardError.single(
                source, f"bad CRC: stored {crc:08x}, expected {zlib.crc32(kind + data):08x}", field=chunk.name
            )
        yield chunk
        if kind == _END:
            return
        offset = end
        index += 1


def _card_keyword(chunk: _Chunk) -> str | None:
    """The lowercase keyword of a card chunk, or ``None`` for any other chunk.

    A ``tEXt`` chunk without the zero byte that ends its keyword cannot be a card chunk; it is someone else's
    business, so it is passed over rather than refused.
    """
    if chunk.type != _TEXT:
        return None
    keyword, separator, _ = chunk.data.partition(b"\0")
    lowered = keyword.decode("latin-1").lower()
    return lowered if separator and lowered in CARD_KEYWORDS else None


def _encode_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rgb(hue: float, *, lightness: float, saturation: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return round(red * 255), round(green * 255), round(blue * 255)

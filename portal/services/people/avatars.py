"""The avatar pipeline: decode, check, normalise and store an uploaded image.

The content decides what a file is: Pillow must decode it as one of the allowed formats. What is
stored is a fresh encoding of the pixels only (EXIF orientation applied, metadata dropped),
centre-cropped to a square of at most ``AVATAR_SIZE`` pixels, under a new unguessable name.

Where the bytes live is AVATAR_STORAGE: "filesystem" (``UPLOAD_FOLDER/avatars/``) or "database"
(the ``avatar_files`` table, which every app server behind a load balancer shares).
"""

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete

from ...extensions import db
from ...models import AvatarFile
from ..plumbing.after_commit import after_commit, on_rollback
from .fields import FieldError, digits

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    extension: str  # ".jpg" or ".png"


def process_avatar(stream) -> ProcessedImage:
    """Read an upload from a binary stream and return the image to store, or raise FieldError."""
    cfg = current_app.config
    max_bytes, max_pixels, size = cfg["AVATAR_MAX_BYTES"], cfg["AVATAR_MAX_PIXELS"], cfg["AVATAR_SIZE"]
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FieldError(_("The image is too large: at most %(size)s MB.", size=digits(f"{max_bytes / 1_048_576:g}")))
    if not data:
        raise FieldError(_("The submitted file is empty."))
    too_many_pixels = FieldError(
        _("The image is too large: at most %(size)s megapixels.", size=digits(f"{max_pixels / 1_000_000:g}"))
    )
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a bomb is a refusal, not a warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.width * image.height > max_pixels:
                raise too_many_pixels
            if image.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
                image.draft("RGB", (size, size))
            image.load()
    except FieldError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise too_many_pixels from None
    except UnidentifiedImageError:
        raise FieldError(
            _("Upload a valid image. The file you uploaded was either not an image or a corrupted image.")
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise FieldError(_("The image could not be read: the file is truncated or corrupted.")) from None
    return _normalise(image, size)


def _normalise(image: Image.Image, size: int) -> ProcessedImage:
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit grey: scale to 8 bits (a plain convert would clip everything above 255 to white).
        image = image.point(lambda value: value / 257, "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    # Crop before converting and scaling, so both work on the square only.
    side = min(image.width, image.height)
    if image.width != image.height:
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    target_mode = "RGBA" if has_alpha else "RGB"
    if image.mode != target_mode:
        image = image.convert(target_mode)
    if side > size:
        # reducing_gap: first shrink by a whole factor with a box filter (an exact area average),
        # then finish with Lanczos over at least 1.5x. A third of the cost of Lanczos all the way.
        image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=1.5)
    image.info.clear()  # nothing from the upload's metadata travels into the stored file
    out = io.BytesIO()
    if has_alpha:
        image.save(out, "PNG")
        return ProcessedImage(out.getvalue(), ".png")
    image.save(out, "JPEG", quality=85, optimize=True)
    return ProcessedImage(out.getvalue(), ".jpg")


def avatar_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / "avatars"


def in_database() -> bool:
    return current_app.config["AVATAR_STORAGE"] == "database"


def store_avatar(image: ProcessedImage) -> str:
    """Store the image under a fresh name and return it (a file is removed again on a roll-back)."""
    name = secrets.token_urlsafe(24) + image.extension
    if in_database():
        db.session.add(AvatarFile(name=name, data=image.data))
        return name
    folder = avatar_folder()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "xb") as fh:
        fh.write(image.data)
    on_rollback(lambda: _unlink(name))
    return name


def discard_avatar(name: str | None) -> None:
    """Delete a stored image no row names any more, in the caller's transaction: in the database
    with it, on disk once it has committed (a rolled-back change keeps its picture)."""
    if not name or Path(name).name != name:
        return  # a missing one, or a name that is not a bare file name, is nothing to delete
    if in_database():
        db.session.execute(delete(AvatarFile).where(AvatarFile.name == name))
    else:
        after_commit(lambda: _unlink(name))


def _unlink(name: str) -> None:
    (avatar_folder() / name).unlink(missing_ok=True)


def avatar_in_database(name: str) -> bytes | None:
    """The bytes of an image kept in the database, or None."""
    row = db.session.get(AvatarFile, name)
    return row.data if row is not None else None

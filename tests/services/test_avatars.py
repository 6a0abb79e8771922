"""The avatar pipeline: decoding by content, limits, re-encoding, storage and clean-up.

Every image is a real file made here with Pillow. The pipeline is called directly
(``process_avatar`` / ``store_avatar`` / ``discard_avatar``) and through ``update_profile``.
"""

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, JpegImagePlugin
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from portal.extensions import db
from portal.models import AuditEvent, Group, User
from portal.services.audit import Actor
from portal.services.errors import ValidationFailed
from portal.services.people import accounts, avatars
from portal.services.people.fields import FieldError
from portal.transactions import unit_of_work
from tests.conftest import image_bytes, stored_avatars

NOT_AN_IMAGE = "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
TRUNCATED = "The image could not be read: the file is truncated or corrupted."
TOO_MANY_PIXELS = "The image is too large: at most 40 megapixels."

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)


# --- helpers -----------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(size=(400, 300)) -> Image.Image:
    """Random pixels: compresses badly, so half a file really misses half the picture."""
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def quadrants(size=(300, 200)) -> Image.Image:
    """Top-left red, top-right green, bottom-left blue, bottom-right yellow."""
    w, h = size
    image = Image.new("RGB", size)
    image.paste(RED, (0, 0, w // 2, h // 2))
    image.paste(GREEN, (w // 2, 0, w, h // 2))
    image.paste(BLUE, (0, h // 2, w // 2, h))
    image.paste(YELLOW, (w // 2, h // 2, w, h))
    return image


def half_transparent(mode="RGBA", size=(100, 100)) -> Image.Image:
    """Left half fully transparent, right half opaque red."""
    if mode == "P":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
        image.paste(1, (size[0] // 2, 0, size[0], size[1]))
        return image
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image.convert(mode)


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """The same PNG with its IHDR claiming another size (CRC recomputed): a header that lies."""
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]


def process(app, data: bytes) -> avatars.ProcessedImage:
    with app.app_context():
        return avatars.process_avatar(io.BytesIO(data))


def refusal(app, data: bytes) -> str:
    with app.app_context(), pytest.raises(FieldError) as excinfo:
        avatars.process_avatar(io.BytesIO(data))
    return str(excinfo.value)


def opened(processed_or_bytes) -> Image.Image:
    data = getattr(processed_or_bytes, "data", processed_or_bytes)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def avatar_file(app, name) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "avatars" / name


def set_avatar(app, account_id, data, **other_changes) -> str | None:
    """Upload ``data`` as the user's avatar through the account service; the stored name."""
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account_id)
        accounts.update_profile(user, {"avatar": io.BytesIO(data), **other_changes}, Actor(user=user, ip="203.0.113.9"))
        return user.avatar


def stored_name(app, account_id) -> str | None:
    with app.app_context():
        return db.session.get(User, account_id).avatar


# --- accepted formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(image_bytes("JPEG", (120, 90), RED), id="jpeg"),
        pytest.param(image_bytes("PNG", (120, 90), RED), id="png-rgb"),
        pytest.param(image_bytes("WEBP", (120, 90), RED, lossless=True), id="webp"),
        pytest.param(image_bytes("GIF", (120, 90), RED), id="gif"),
        pytest.param(image_bytes("JPEG", (120, 90), (0, 255, 255, 0), mode="CMYK"), id="jpeg-cmyk"),
    ],
)
def test_opaque_image_of_each_accepted_format_is_stored_as_a_jpeg_of_its_colour(app, data):
    result = process(app, data)

    assert result.extension == ".jpg"
    image = opened(result)
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert image.size == (90, 90)
    assert close_to(image.getpixel((45, 45)), RED)


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        pytest.param("PNG", "RGBA", {}, id="png-rgba"),
        pytest.param("PNG", "LA", {}, id="png-la"),
        pytest.param("PNG", "P", {"transparency": 0}, id="png-palette-trns"),
        pytest.param("WEBP", "RGBA", {"lossless": True}, id="webp-rgba"),
        pytest.param("GIF", "P", {"transparency": 0}, id="gif-transparent"),
    ],
)
def test_image_with_transparency_is_stored_as_png_keeping_transparent_pixels(app, fmt, mode, options):
    result = process(app, encode(half_transparent(mode), fmt, **options))

    assert result.extension == ".png"
    image = opened(result)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert image.getpixel((10, 50))[3] == 0  # the transparent half stays transparent
    assert image.getpixel((90, 50))[3] == 255
    if mode != "LA":
        assert close_to(image.getpixel((90, 50)), RED, tolerance=2)


def test_grayscale_png_keeps_its_grey_level(app):
    result = process(app, image_bytes("PNG", (64, 64), 128, mode="L"))

    assert result.extension == ".jpg"
    assert close_to(opened(result).getpixel((32, 32)), (128, 128, 128), tolerance=3)


def test_16_bit_grayscale_png_keeps_its_grey_level(app):
    # 30000 of 65535 is a mid grey (about 117 of 255), not white.
    result = process(app, image_bytes("PNG", (64, 64), 30000, mode="I;16"))

    assert result.extension == ".jpg"
    assert close_to(opened(result).getpixel((32, 32)), (117, 117, 117), tolerance=10)


def test_animated_gif_is_stored_from_its_first_frame(app):
    frames = [Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE), Image.new("RGB", (64, 64), GREEN)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(data)) as check:
        assert check.n_frames == 3

    image = opened(process(app, data))

    assert image.format == "JPEG"
    assert getattr(image, "n_frames", 1) == 1
    assert close_to(image.getpixel((32, 32)), RED)


# --- refused content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"Hello, this is a plain text file pretending to be a photo.\n" * 20, id="text"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n", id="pdf"),
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>', id="svg"),
        pytest.param(b"<?php echo 'hi'; ?>", id="php"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 64, id="jpeg-magic-only"),
        pytest.param(image_bytes("BMP", (40, 40)), id="bmp-is-not-an-accepted-format"),
        pytest.param(image_bytes("TIFF", (40, 40)), id="tiff-is-not-an-accepted-format"),
    ],
)
def test_content_that_is_not_an_accepted_image_is_refused(app, data):
    assert refusal(app, data) in (NOT_AN_IMAGE, TRUNCATED)


def test_text_file_gets_the_not_an_image_message(app):
    assert refusal(app, b"just some words") == NOT_AN_IMAGE


def test_empty_file_is_refused(app):
    assert refusal(app, b"") == "The submitted file is empty."


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_image_cut_in_half_is_refused_as_truncated(app, fmt):
    data = encode(noise(), fmt)

    assert refusal(app, data[: len(data) // 2]) == TRUNCATED


def test_file_name_and_content_type_do_not_decide_what_is_accepted(app, user):
    png = image_bytes("PNG", (50, 50), RED)
    disguised = FileStorage(io.BytesIO(png), filename="notes.txt", content_type="text/plain")
    pretender = FileStorage(io.BytesIO(b"not a picture at all"), filename="photo.jpg", content_type="image/jpeg")

    with app.app_context(), unit_of_work():
        row = db.session.get(User, user.id)
        accounts.update_profile(row, {"avatar": disguised}, Actor(user=row))
        name = row.avatar
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.update_profile(row, {"avatar": pretender}, Actor(user=row))

    assert name.endswith(".jpg") and "notes" not in name
    assert excinfo.value.errors == {"avatar": [NOT_AN_IMAGE]}
    assert stored_avatars(app) == [name]


# --- size limits -------------------------------------------------------------------------------


def test_image_over_the_byte_limit_is_refused_before_decoding(app):
    app.config["AVATAR_MAX_BYTES"] = 1024 * 1024
    data = encode(noise((1000, 1000)), "PNG")
    assert len(data) > 1024 * 1024

    assert refusal(app, data) == "The image is too large: at most 1 MB."


def test_image_at_the_byte_limit_is_accepted(app):
    data = image_bytes("JPEG", (64, 64), RED)
    app.config["AVATAR_MAX_BYTES"] = len(data)

    assert process(app, data).extension == ".jpg"


def test_huge_upload_is_not_read_past_the_byte_limit(app):
    class Endless:
        """A stream that would hand out bytes forever."""

        read_total = 0

        def read(self, n=-1):
            assert n is not None and n >= 0, "the whole stream was requested"
            self.read_total += n
            return b"\xff" * n

    stream = Endless()
    with app.app_context(), pytest.raises(FieldError) as excinfo:
        avatars.process_avatar(stream)

    assert str(excinfo.value) == "The image is too large: at most 5 MB."
    assert stream.read_total <= 5 * 1024 * 1024 + 1


def test_image_over_the_configured_pixel_limit_is_refused(app):
    app.config["AVATAR_MAX_PIXELS"] = 1_000_000

    assert refusal(app, image_bytes("PNG", (1001, 1000), RED)) == "The image is too large: at most 1 megapixels."
    assert process(app, image_bytes("PNG", (1000, 1000), RED)).extension == ".jpg"


def test_image_over_the_default_40_megapixels_is_refused(app):
    # 7000x7000 = 49 MP: over the portal's limit, under Pillow's own bomb threshold.
    data = encode(Image.new("1", (7000, 7000), 0), "PNG")
    assert len(data) < 50_000

    assert refusal(app, data) == TOO_MANY_PIXELS


def test_pixel_flood_png_is_refused_as_too_large_without_a_warning(app):
    # 10000x10000 = 100 MP, a 1-bit PNG of about 12 kB: over Pillow's MAX_IMAGE_PIXELS, which
    # Pillow only warns about. The warning must become a refusal (warnings are errors here).
    data = encode(Image.new("1", (10000, 10000), 0), "PNG")
    assert len(data) < 50_000
    assert 10000 * 10000 > Image.MAX_IMAGE_PIXELS

    assert refusal(app, data) == TOO_MANY_PIXELS


def test_decompression_bomb_beyond_pillows_hard_limit_is_refused_as_too_large(app):
    # A tiny PNG whose header claims 30000x30000 = 900 MP: Pillow raises DecompressionBombError.
    data = with_png_size(image_bytes("PNG", (16, 16), 0, mode="1"), 30000, 30000)
    assert 30000 * 30000 > 2 * Image.MAX_IMAGE_PIXELS

    assert refusal(app, data) == TOO_MANY_PIXELS


def test_pixel_flood_through_update_profile_is_a_field_error_and_stores_nothing(app, user):
    data = encode(Image.new("1", (10000, 10000), 0), "PNG")

    with pytest.raises(ValidationFailed) as excinfo:
        set_avatar(app, user.id, data)

    assert list(excinfo.value.errors) == ["avatar"]
    assert stored_avatars(app) == []
    assert stored_name(app, user.id) is None


# --- what is stored ----------------------------------------------------------------------------


def test_gps_and_every_other_metadata_are_stripped_from_the_stored_jpeg(app):
    exif = Image.Exif()
    exif[0x010F] = "SpyCamMaker"  # Make
    exif[0x0110] = "SpyCam 3000"  # Model
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.5), 3: "E", 4: (51.0, 23.0, 20.1)}  # GPS IFD
    source = encode(
        Image.new("RGB", (200, 200), RED), "JPEG", exif=exif.tobytes(), comment=b"secret comment",
        icc_profile=b"\x00" * 128,
    )
    with Image.open(io.BytesIO(source)) as check:  # the upload really carries the data
        assert check.getexif().get_ifd(0x8825)[1] == "N"
        assert check.info["comment"] == b"secret comment"

    result = process(app, source)

    image = opened(result)
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(0x8825) == {}
    assert not {"exif", "comment", "icc_profile", "xmp"} & set(image.info)
    for marker in (b"Exif", b"SpyCam", b"secret comment"):
        assert marker not in result.data


def test_text_chunks_and_exif_are_stripped_from_the_stored_png(app):
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text("Comment", "home address: 12 Secret Lane")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    source = encode(half_transparent("RGBA"), "PNG", pnginfo=meta, exif=exif.tobytes())

    result = process(app, source)

    image = opened(result)
    assert result.extension == ".png"
    assert "Comment" not in image.info and "exif" not in image.info
    assert dict(image.getexif()) == {}
    assert b"Secret Lane" not in result.data and b"eXIf" not in result.data


def test_exif_orientation_is_applied_before_storing(app):
    # Stored sideways: 300x200 with Orientation=6 means "turn 90 degrees clockwise to view".
    exif = Image.Exif()
    exif[0x0112] = 6
    source = encode(quadrants((300, 200)), "JPEG", exif=exif.tobytes(), quality=95)

    image = opened(process(app, source))

    # Viewed upright (200x300) and centre-cropped to 200x200: the left column of the source is
    # now the top row, so blue (bottom-left) is top-left and red (top-left) is top-right.
    assert image.size == (200, 200)
    assert close_to(image.getpixel((20, 20)), BLUE)
    assert close_to(image.getpixel((180, 20)), RED)
    assert close_to(image.getpixel((20, 180)), YELLOW)
    assert close_to(image.getpixel((180, 180)), GREEN)
    assert dict(image.getexif()) == {}  # the orientation tag is not kept to be applied twice


def test_image_without_orientation_keeps_its_layout(app):
    image = opened(process(app, encode(quadrants((300, 200)), "JPEG", quality=95)))

    assert image.size == (200, 200)
    assert close_to(image.getpixel((20, 20)), RED)
    assert close_to(image.getpixel((180, 20)), GREEN)
    assert close_to(image.getpixel((20, 180)), BLUE)
    assert close_to(image.getpixel((180, 180)), YELLOW)


@pytest.mark.parametrize(
    ("size", "side"),
    [((800, 600), 512), ((600, 2000), 512), ((512, 512), 512), ((3000, 513), 512), ((100, 60), 60), ((33, 33), 33)],
)
def test_stored_image_is_square_and_at_most_512_pixels_never_upscaled(app, size, side):
    assert opened(process(app, image_bytes("PNG", size, RED))).size == (side, side)


def test_wide_image_is_cropped_around_its_centre(app):
    image = Image.new("RGB", (900, 300), RED)
    image.paste(GREEN, (300, 0, 600, 300))
    image.paste(BLUE, (600, 0, 900, 300))

    stored = opened(process(app, encode(image, "PNG")))

    assert stored.size == (300, 300)
    for x in (5, 150, 294):
        assert close_to(stored.getpixel((x, 150)), GREEN)


def test_large_jpeg_is_decoded_in_draft_mode_and_stored_at_512(app, monkeypatch):
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        calls.append({"mode": mode, "size": size, "decoded": self.size, "result": result})
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)

    image = opened(process(app, image_bytes("JPEG", (4000, 3000), GREEN)))

    assert image.size == (512, 512)
    assert len(calls) == 1
    assert calls[0]["mode"] == "RGB" and calls[0]["size"] == (512, 512)
    assert calls[0]["result"] is not None  # libjpeg was told to scale down
    assert calls[0]["decoded"] == (1000, 750)  # 1/4 scale: still covers 512 on the short side
    assert close_to(image.getpixel((256, 256)), GREEN)


# --- storage -----------------------------------------------------------------------------------


def test_two_uploads_of_the_same_bytes_get_different_unguessable_names(app):
    data = image_bytes("JPEG", (100, 100), RED)
    with app.app_context():
        first = avatars.store_avatar(avatars.process_avatar(io.BytesIO(data)))
        second = avatars.store_avatar(avatars.process_avatar(io.BytesIO(data)))
        db.session.commit()

    assert first != second
    for name in (first, second):
        stem, _, extension = name.rpartition(".")
        assert extension == "jpg"
        assert len(stem) >= 32  # at least ~190 bits of randomness
        assert set(stem) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert stored_avatars(app) == sorted([first, second])
    assert avatar_file(app, first).read_bytes() == avatar_file(app, second).read_bytes()


def test_stored_file_holds_the_processed_image(app):
    with app.app_context():
        processed = avatars.process_avatar(io.BytesIO(image_bytes("PNG", (64, 64), BLUE)))
        name = avatars.store_avatar(processed)
        db.session.commit()

    assert avatar_file(app, name).read_bytes() == processed.data


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_a_stored_file_whose_transaction_does_not_commit_is_removed(app, end):
    with app.app_context():
        name = avatars.store_avatar(avatars.process_avatar(io.BytesIO(image_bytes())))
        assert stored_avatars(app) == [name]  # written at once, so the commit can name it
        getattr(db.session, end)()

    assert stored_avatars(app) == []


def test_a_discarded_file_goes_only_when_its_transaction_commits(app):
    with app.app_context():
        name = avatars.store_avatar(avatars.process_avatar(io.BytesIO(image_bytes())))
        db.session.commit()
        avatars.discard_avatar(name)
        db.session.rollback()
        assert stored_avatars(app) == [name]  # the change that would have replaced it did not happen

        avatars.discard_avatar(name)
        avatars.discard_avatar(name)  # twice in one change: no error
        avatars.discard_avatar(None)
        assert stored_avatars(app) == [name]  # not before the commit
        db.session.commit()

    assert stored_avatars(app) == []


def test_discarding_never_leaves_the_avatar_folder(app, tmp_path):
    outside = Path(app.config["UPLOAD_FOLDER"]) / "keep.txt"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text("precious")
    (Path(app.config["UPLOAD_FOLDER"]) / "avatars").mkdir(exist_ok=True)

    with app.app_context():
        avatars.discard_avatar("../keep.txt")
        avatars.discard_avatar(str(outside))
        db.session.commit()

    assert outside.read_text() == "precious"


# --- through update_profile --------------------------------------------------------------------


def test_avatar_upload_is_stored_and_recorded_in_the_audit_log(app, user):
    name = set_avatar(app, user.id, image_bytes("JPEG", (640, 480), RED))

    assert stored_avatars(app) == [name]
    assert opened(avatar_file(app, name).read_bytes()).size == (480, 480)
    with app.app_context(), unit_of_work():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "profile_updated")).one()
        assert event.subject_id == user.id
        assert event.changes == {"avatar": [None, name]}
        assert event.ip == "203.0.113.9"


def test_two_users_uploading_the_same_file_get_separate_files(app, make_user):
    data = image_bytes("JPEG", (100, 100), RED)
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")

    alice_name, bob_name = set_avatar(app, alice.id, data), set_avatar(app, bob.id, data)

    assert alice_name != bob_name
    assert stored_avatars(app) == sorted([alice_name, bob_name])


def test_replacing_the_avatar_deletes_the_old_file_only_after_the_commit(app, user):
    old = set_avatar(app, user.id, image_bytes("JPEG", (100, 100), RED))
    seen_at_commit = []

    def watch(_session):
        seen_at_commit.append(stored_avatars(app))

    event.listen(db.session, "before_commit", watch)
    try:
        new = set_avatar(app, user.id, image_bytes("PNG", (100, 100), BLUE))
    finally:
        event.remove(db.session, "before_commit", watch)

    assert new != old
    assert seen_at_commit == [sorted([old, new])]  # both files exist while the commit runs
    assert stored_avatars(app) == [new]
    assert stored_name(app, user.id) == new


def test_a_commit_the_database_refuses_keeps_the_old_avatar_and_removes_the_new_file(app, user):
    old = set_avatar(app, user.id, image_bytes("JPEG", (100, 100), RED))
    with app.app_context(), unit_of_work():
        db.session.add(Group(name="Readers"))

    with pytest.raises(IntegrityError), app.app_context(), unit_of_work():
        me = db.session.get(User, user.id)
        accounts.update_profile(me, {"avatar": io.BytesIO(image_bytes("PNG", (100, 100), BLUE))}, Actor(user=me))
        assert len(stored_avatars(app)) == 2  # the new file is written before the commit
        db.session.add(Group(name="Readers"))  # the unique index refuses it when the commit flushes it

    assert stored_avatars(app) == [old]
    assert stored_name(app, user.id) == old


def test_removing_the_avatar_deletes_its_file(app, user):
    old = set_avatar(app, user.id, image_bytes())

    with app.app_context(), unit_of_work():
        row = db.session.get(User, user.id)
        accounts.update_profile(row, {"avatar": None}, Actor(user=row))

    assert stored_avatars(app) == []
    assert stored_name(app, user.id) is None
    with app.app_context(), unit_of_work():
        actions = db.session.scalars(select(AuditEvent.changes).where(AuditEvent.action == "profile_updated")).all()
        assert actions[-1] == {"avatar": [old, None]}


def test_update_with_a_valid_avatar_and_a_taken_email_stores_no_file(app, make_user):
    make_user("taken@example.com")
    account = make_user("me@example.com")

    with pytest.raises(ValidationFailed) as excinfo:
        set_avatar(app, account.id, image_bytes("JPEG", (300, 300)), email="TAKEN@example.com", first_name="New")

    assert excinfo.value.errors == {"email": ["A user with that email already exists."]}
    assert stored_avatars(app) == []
    with app.app_context():
        row = db.session.get(User, account.id)
        assert (row.avatar, row.email, row.first_name) == (None, "me@example.com", None)


def test_update_with_a_bad_avatar_applies_none_of_the_other_fields(app, user):
    with pytest.raises(ValidationFailed) as excinfo:
        set_avatar(app, user.id, b"GIF89a but not really", first_name="Changed", phone="12")

    assert excinfo.value.errors == {
        "avatar": [NOT_AN_IMAGE],
        "phone": [
            "Enter a valid phone number: 4 to 20 characters of digits, spaces, '-', '(' and ')', "
            "with at least 4 digits and an optional leading '+'."
        ],
    }
    with app.app_context():
        assert db.session.get(User, user.id).first_name is None
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "profile_updated")).all() == []
    assert stored_avatars(app) == []

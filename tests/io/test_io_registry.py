"""The image I/O registry is a registry like the others: a plug-in adds a format, and a name registered twice is
refused."""

import numpy as np
import pytest

import autoseg.io.base as base
from autoseg import plugins
from autoseg.errors import AutosegError
from autoseg.io import IMAGE_IO, Geometry, ImageData, ImageIO, read_image, register_io, write_image

PLUGIN = '''
"""Raw float32 volumes with a text header: a format only this lab writes."""

import json

import numpy as np

from autoseg.io import Geometry, ImageData, ImageIO, register_io


@register_io
class LabVolumeIO(ImageIO):
    name = "lab_volume"
    endings = (".labvol",)

    def read(self, path):
        header, _, body = path.read_bytes().partition(b"\\n")
        meta = json.loads(header)
        array = np.frombuffer(body, dtype=np.float32).reshape(meta["shape"])
        return ImageData(array.copy(), Geometry.identity(tuple(meta["spacing"])))

    def write(self, image, path):
        meta = {"shape": list(image.array.shape), "spacing": list(image.geometry.spacing)}
        path.write_bytes(json.dumps(meta).encode() + b"\\n" + image.array.astype(np.float32).tobytes())
'''


@pytest.fixture
def fresh_registry(monkeypatch, tmp_path):
    """Plug-ins loaded anew from ``tmp_path`` and the I/O registry restored afterwards."""
    monkeypatch.setattr(IMAGE_IO, "_items", dict(IMAGE_IO._items))
    monkeypatch.setattr(base, "_DEFAULT_FOR_ENDING", dict(base._DEFAULT_FOR_ENDING))
    monkeypatch.setattr(plugins, "_state", {"loaded": False, "loading": False, "error": None, "modules": []})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_plugin_adds_an_image_format_that_every_reader_and_writer_takes(fresh_registry, monkeypatch):
    (fresh_registry / "lab_volume_plugin.py").write_text(PLUGIN)
    monkeypatch.setenv("AUTOSEG_PLUGINS", "lab_volume_plugin")
    image = ImageData(np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4), Geometry.identity((2.0, 1.0, 0.5)))
    write_image(image, fresh_registry / "case_0000.labvol")
    read = read_image(fresh_registry / "case_0000.labvol")
    assert np.array_equal(read.array, image.array) and read.geometry.spacing == (2.0, 1.0, 0.5)
    assert "lab_volume" in IMAGE_IO.names() and ".labvol" in base.supported_endings()


def test_an_image_backend_registered_twice_is_refused_and_an_unknown_one_named(fresh_registry):
    class Another(ImageIO):
        name = "nibabel"
        endings = (".nii",)

        def read(self, path):
            raise NotImplementedError

        def write(self, image, path):
            raise NotImplementedError

    with pytest.raises(ValueError, match="image backend 'nibabel' is registered twice"):
        register_io(Another)
    with pytest.raises(AutosegError, match="unknown image backend 'itk'; known: nibabel, simpleitk, skimage"):
        read_image(fresh_registry / "x.nii.gz", backend="itk")

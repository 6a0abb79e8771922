"""Builds the package with its compiled message catalogues (the rest of the metadata is in setup.cfg).

The ``.mo`` files are never committed: ``build_py`` compiles each ``portal/translations/*/LC_MESSAGES/
messages.po`` into the build (a wheel, ``pip install .``), or next to the ``.po`` for ``pip install -e``,
with the portal's own ``portal/catalogues.py`` — loaded from its file, as the portal's dependencies
are not installed yet when this runs. A ``.po`` that cannot be compiled stops the build.
"""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _catalogues():
    spec = importlib.util.spec_from_file_location("portal_catalogues", HERE / "portal" / "catalogues.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class build_py_with_catalogues(build_py):  # noqa: N801 — setuptools' naming
    """``build_py``, then every language's ``.mo`` compiled from its ``.po``."""

    def run(self):
        super().run()
        catalogues = _catalogues()
        source = Path(self.get_package_dir("portal")) / "translations"
        # Editable: the package is read from the source tree, so the catalogues go there.
        target = source if self.editable_mode else Path(self.build_lib) / "portal" / "translations"
        for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
            language = po.parent.parent.name
            mo = catalogues.mo_path(target, language)
            mo.parent.mkdir(parents=True, exist_ok=True)
            try:
                mo.write_bytes(catalogues.compile_catalogue(po.read_bytes(), language))
            except Exception as exc:
                raise SystemExit(f"error: {po} cannot be compiled: {exc}") from exc
            self.announce(f"compiled {po} -> {mo}", level=2)


setup(cmdclass={"build_py": build_py_with_catalogues})

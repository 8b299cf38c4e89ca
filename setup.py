"""Build hook: the translation catalogs are compiled into every build.

The compiled catalogs (``.mo``) are not kept in git, so without this a plain
``pip install .`` (a production deployment, no ``make``) would serve the UI in English.
Everything else about the package is declared in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogs(build_py):
    """``build_py`` that also compiles ``jointdesk/translations/*/LC_MESSAGES/*.po``."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in Path("jointdesk/translations").glob("*/LC_MESSAGES/*.po"):
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source)
            with target.open("wb") as out:
                write_mo(out, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogs})

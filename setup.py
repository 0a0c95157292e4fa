"""Ships the top-level ``templates/`` folder inside the wheel as ``newsletter.templates``.

The folder stays at the top of the repository, where staff look for what they may restyle;
pyproject.toml alone cannot map a folder outside the package into it.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["newsletter*", "subscribers*"]), "newsletter.templates"],
    package_dir={"newsletter.templates": "templates"},
)

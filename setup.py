"""Map the five source roots to their packages.

setup.cfg's ``packages.find where`` takes one folder only, and two of the roots carry
standard-library names (``platform``, ``warnings``), so each root holds one uniquely named
package and this file maps them. Namespace discovery also picks up the template, static,
translation and migration folders, which ship as package data.
"""

from setuptools import find_namespace_packages, setup

SOURCE_ROOTS = ("config", "platform", "ingest", "warnings", "audit")
PACKAGES = {pkg: root for root in SOURCE_ROOTS for pkg in find_namespace_packages(root, include=["signalhub_*"])}

setup(
    package_dir={pkg: f"{root}/{pkg.replace('.', '/')}" for pkg, root in PACKAGES.items()},
    packages=list(PACKAGES),
)

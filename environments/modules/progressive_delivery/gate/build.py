#!/usr/bin/env python3
"""Build gate.zip (the deployment gate's Lambda package) from deployment_gate.py,
byte for byte the same on every machine: one stored (uncompressed) entry, a fixed
timestamp and mode. `build.py --check` exits 1 when the committed gate.zip is not
what deployment_gate.py builds. Run it after every change to deployment_gate.py and
commit both files.

Terraform checks the same thing at plan time (a precondition of the function in
../main.tf): the entry is stored, and its header is 30 bytes plus the 18 of its
name, a multiple of 3, so the source's base64 is a substring of the package's.
Keep the name's length a multiple of 3.
"""

import io
import pathlib
import sys
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE / "deployment_gate.py"
PACKAGE = HERE / "gate.zip"


def build():
    """The package's bytes."""
    assert (30 + len(SOURCE.name)) % 3 == 0, "see the module docstring"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        entry = zipfile.ZipInfo(SOURCE.name, date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100644 << 16
        entry.create_system = 3  # Unix, so that the mode above is read
        archive.writestr(entry, SOURCE.read_bytes())
    return buffer.getvalue()


def main():
    package = build()
    if sys.argv[1:] == ["--check"]:
        if not PACKAGE.exists() or PACKAGE.read_bytes() != package:
            print(f"{PACKAGE} is not built from {SOURCE.name}: run {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    PACKAGE.write_bytes(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the test double's wheel by hand (standard library only, Python 3.6+).

Used by make_release.py and, copied into the git repository it makes, as a
PEP 517 in-tree build backend (``build-backend = "wheelbuild"`` with
``backend-path = ["_build"]`` and ``requires = []``), so that
``pip install --no-index git+file:///...@devel`` needs nothing from an index.

The wheel: ``<Project>DIRAC-<version>-py3-none-any.whl`` with the package
``fakedirac``, an empty ``pilot`` extra and a console script per tool.
"""

import base64
import hashlib
import io
import os
import re
import zipfile

TOOLS = [
    ("dirac-configure", "dirac_configure"),
    ("dirac-platform", "dirac_platform"),
    ("dirac-version", "dirac_version"),
    ("dirac-agent", "dirac_agent"),
    ("dirac-admin-add-pilot", "dirac_admin_add_pilot"),
    ("dirac-resource-get-parameters", "dirac_resource_get_parameters"),
    ("dirac-wms-get-wn-parameters", "dirac_wms_get_wn_parameters"),
    ("dirac-wms-cpu-normalization", "dirac_wms_cpu_normalization"),
    ("dirac-wms-get-queue-cpu-time", "dirac_wms_get_queue_cpu_time"),
]

# Fixed date for reproducible archives (zip cannot go before 1980).
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def dist_name(project):
    return "%sDIRAC" % (project or "")


def normalize(name):
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release_module(version, project, build):
    return '"""Release identity; written by make_release.py."""\nVERSION = %r\nPROJECT = %r\nBUILD = %r\n' % (
        version,
        project,
        build,
    )


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def package_files(package_dir, version, project, build="wheel"):
    """[(archive path, bytes)] of the fakedirac package, with its _release.py."""
    files = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, os.path.dirname(package_dir)).replace(os.sep, "/")
            if rel == "fakedirac/_release.py":
                data = release_module(version, project, build).encode("utf-8")
            else:
                with open(full, "rb") as handle:
                    data = handle.read()
            files.append((rel, data))
    return files


def metadata_files(version, project):
    name = dist_name(project)
    distinfo = "%s-%s.dist-info" % (name, version)
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            "Name: %s" % name,
            "Version: %s" % version,
            "Summary: Test double of a DIRAC release (Pilots 2.0 tests)",
            "License: GPL-3.0-only",
            "Requires-Python: >=3.6",
            "Provides-Extra: pilot",
            "",
            "A test double of a DIRAC release: not DIRAC.",
            "",
        ]
    )
    wheel = "\n".join(
        [
            "Wheel-Version: 1.0",
            "Generator: tests/doubles/dirac/wheelbuild.py",
            "Root-Is-Purelib: true",
            "Tag: py3-none-any",
            "",
        ]
    )
    entry_points = "[console_scripts]\n" + "".join("%s = fakedirac.scripts:%s\n" % (tool, func) for tool, func in TOOLS)
    return distinfo, [
        (distinfo + "/METADATA", metadata.encode("utf-8")),
        (distinfo + "/WHEEL", wheel.encode("utf-8")),
        (distinfo + "/entry_points.txt", entry_points.encode("utf-8")),
        (distinfo + "/top_level.txt", b"fakedirac\n"),
    ]


def wheel_filename(version, project):
    return "%s-%s-py3-none-any.whl" % (dist_name(project), version)


def build_wheel_file(package_dir, out_dir, version, project, build="wheel"):
    """Write the wheel into out_dir; returns its file name."""
    distinfo, meta = metadata_files(version, project)
    files = package_files(package_dir, version, project, build) + meta
    record_lines = ["%s,%s,%d" % (path, _record_hash(data), len(data)) for path, data in files]
    record_lines.append("%s/RECORD,," % distinfo)
    files.append((distinfo + "/RECORD", ("\n".join(record_lines) + "\n").encode("utf-8")))
    filename = wheel_filename(version, project)
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    target = os.path.join(out_dir, filename)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    with open(target, "wb") as handle:
        handle.write(buffer.getvalue())
    return filename


# -- PEP 517 in-tree backend (used inside the git repository) ----------------
def _repo_settings():
    """Version and project of the git repository, from its release.txt."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    version, project = "0.0.0", ""
    with open(os.path.join(here, "release.txt")) as handle:
        for line in handle:
            key, _sep, value = line.strip().partition("=")
            if key == "version":
                version = value
            elif key == "project":
                project = value
    return here, version, project


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    here, version, project = _repo_settings()
    return build_wheel_file(os.path.join(here, "src", "fakedirac"), wheel_directory, version, project, "wheel")


def build_sdist(sdist_directory, config_settings=None):
    import tarfile

    here, version, project = _repo_settings()
    base = "%s-%s" % (dist_name(project), version)
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as archive:
        for entry in ("pyproject.toml", "release.txt", "_build", "src"):
            archive.add(
                os.path.join(here, entry),
                arcname="%s/%s" % (base, entry),
                filter=lambda info: None if "__pycache__" in info.name else info,
            )
        pkg_info = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (dist_name(project), version)
        data = pkg_info.encode("utf-8")
        info = tarfile.TarInfo("%s/PKG-INFO" % base)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return filename

"""Test instrument: under ``torchrun`` (``$RANK`` set), log every write this rank makes inside ``$HQCTF_AUDIT_ROOT``.

Put this folder on ``PYTHONPATH`` of a subprocess and Python imports it at start-up. It installs an audit hook
(``sys.addaudithook``) that records, for paths under ``$HQCTF_AUDIT_ROOT``, each file opened for writing, created
folder, rename, link, removal and copy, one ``<event> <path>`` line per event, appended to
``$HQCTF_AUDIT_LOG/rank-<RANK>.log``. Reads are not recorded. A process without ``$RANK`` (the torchrun launcher)
or without both variables records nothing.
"""

import os
import sys

_root = os.environ.get("HQCTF_AUDIT_ROOT")
_folder = os.environ.get("HQCTF_AUDIT_LOG")
_rank = os.environ.get("RANK")

if _root and _folder and _rank is not None:
    _root = os.path.abspath(_root) + os.sep
    # opened before the hook exists, and written with os.write (not audited): the log never records itself
    _log = os.open(os.path.join(_folder, f"rank-{_rank}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    _watched = {"os.mkdir", "os.rename", "os.link", "os.remove", "os.rmdir", "os.symlink", "shutil.copyfile"}

    def _inside(path):
        return isinstance(path, (str, os.PathLike)) and os.path.abspath(os.fspath(path)).startswith(_root)

    def _record(event, args):
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _writes)
            paths = [path] if writing else []
        elif event in _watched:
            paths = [a for a in args[:2] if isinstance(a, (str, os.PathLike))]
        else:
            return
        for path in paths:
            if _inside(path):
                os.write(_log, f"{event} {os.fspath(path)}\n".encode())

    sys.addaudithook(_record)

"""support-bundle: what to send to support, readable first with --print."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app import paths as paths_mod
from app.errors import ConfigError
from app.support.bundle import collect, default_name, write_zip


def run(args: Any) -> int:
    paths = paths_mod.profile(args.profile)
    if not (paths.config.exists() or paths.journal.exists()):
        raise ConfigError(f"no connector profile at {paths.root}: nothing to put in a support bundle")
    files = collect(paths)
    if args.print_only:
        for name, text in files.items():
            print(f"===== {name} =====")
            print(text, end="" if text.endswith("\n") else "\n")
        return 0
    dest = Path(args.output) if args.output else Path.cwd() / default_name()
    try:
        write_zip(files, dest)
    except OSError as exc:
        raise ConfigError(f"could not write {dest}: {exc.strerror or exc}") from None
    print(f"Support bundle written to {dest} ({', '.join(files)}). It holds ids, counts and error texts only; "
          "read it with `workbooks-connector support-bundle --print` before sending it.")
    return 0

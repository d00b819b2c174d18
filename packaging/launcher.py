"""Entry script of the frozen bundle (PyInstaller runs this as __main__).

It is `python -m app` for the bundle: the same `app.cli.main()`. One extra: code that re-runs
itself as `[sys.executable, "-m", "app", ...]` (the benchmark's child sync does) reaches a frozen
bundle as `workbooks-connector -m app ...`, so a leading `-m app` is dropped here rather than
read as a usage error. And `--bundle-selftest` (alone) runs packaging/bundle_selftest.py,
the checks build.sh makes on a fresh bundle.
"""
import sys


def _strip_module_switch(argv: list[str]) -> list[str]:
    if getattr(sys, "frozen", False) and argv[1:3] == ["-m", "app"]:
        return argv[:1] + argv[3:]
    return argv


if __name__ == "__main__":
    sys.argv = _strip_module_switch(sys.argv)
    if sys.argv[1:] == ["--bundle-selftest"]:
        import bundle_selftest

        raise SystemExit(bundle_selftest.run())
    from app.cli import main

    raise SystemExit(main())

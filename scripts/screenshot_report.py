"""Open a `nas report` page in headless Chromium and save a screenshot: the check that report.html
renders as a browser shows it, from the file alone (no server, no network).

    python scripts/screenshot_report.py multirun/<sweep>/report.html /tmp/report.png [--width 1280] [--height 2400]

Needs Chromium (Debian: `apt-get install chromium`); exits 2 with a clear message when it is missing.
Prints the browser used and the screenshot's size in pixels.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH (or $CHROMIUM)."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, read from its IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def screenshot(page: Path, out: Path, width: int, height: int, browser: str, timeout: float = 120) -> Path:
    """Render `page` headless at width x height CSS pixels and write the PNG to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nas-chromium-") as profile:  # a fresh profile: no state, no prompts
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                   f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
                   page.resolve().as_uri()]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{browser} exited {proc.returncode} without a screenshot:\n{proc.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("page", type=Path, help="report.html written by nas report")
    p.add_argument("out", type=Path, help="the PNG to write")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=2400)
    args = p.parse_args(argv)
    if not args.page.is_file():
        print(f"screenshot_report: {args.page}: no such file", file=sys.stderr)
        return 2
    browser = find_browser()
    if browser is None:
        print("screenshot_report: no Chromium found (tried " + ", ".join(BROWSERS) + "); install it, e.g. "
              "`apt-get install chromium` on Debian, or point $CHROMIUM at the browser.", file=sys.stderr)
        return 2
    try:
        screenshot(args.page, args.out, args.width, args.height, browser)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_report: {exc}", file=sys.stderr)
        return 1
    width, height = png_size(args.out)
    print(f"{browser}: {args.page} -> {args.out} ({width}x{height} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

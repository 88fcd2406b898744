"""`slim`: compress PaddleOCR models; every result is gated on the compiled `.nb`."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="slim", description=__doc__)
    ap.add_subparsers(dest="cmd", required=True)
    ap.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

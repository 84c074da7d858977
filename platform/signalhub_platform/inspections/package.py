"""The published draw package and the standalone script that re-derives it.

The script is assembled from the very modules the platform draws with (``sampling`` and
``drawing``), so what a citizen runs is what the platform ran; it needs only Python 3.11.
"""

from __future__ import annotations

import inspect

from signalhub_platform import drawing, sampling

_MAIN = """

def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Re-derive a signalhub draw package and compare.")
    parser.add_argument("package", help="the draw package JSON (signalhub draw export)")
    parser.add_argument("--json", action="store_true", help='print {"ok": bool, "problems": [...]}')
    args = parser.parse_args(argv)
    with open(args.package, encoding="utf-8") as handle:
        try:
            package = json.load(handle)
        except ValueError as error:
            package, problems = None, [f"not a JSON document: {error}"]
    if package is not None:
        problems = verify_package(package) if isinstance(package, dict) else ["not a draw package"]
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems}, ensure_ascii=False))
    elif problems:
        for problem in problems:
            print("FAIL:", problem, file=sys.stderr)
    else:
        result = package["result"]
        print(f"OK: draw {package.get('draw_id')} re-derived bit for bit")
        print(f"population sha256 {package['population_sha256']}")
        print(f"seed {package['seed']}")
        for target in result["targets"]:
            team = " ".join(f"{m['agency']}:{m['inspector']}" for m in target["team"])
            print(f"{target['position']:>5} {trim(target['ticket'])} {target['uscc']} {target['stratum']} {team}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
"""


def _body(module: object) -> str:
    """A module's source without its future import and its imports of our own packages."""
    lines = inspect.getsource(module).splitlines()  # type: ignore[arg-type]
    kept: list[str] = []
    skipping = False
    for line in lines:
        if skipping:
            skipping = not line.startswith(")")
            continue
        if line.startswith("from __future__") or line.startswith("from signalhub_platform"):
            skipping = line.rstrip().endswith("(")
            continue
        kept.append(line)
    return "\n".join(kept)


def standalone_script() -> str:
    """``verify_draw.py``: run ``python3 verify_draw.py draw-N.json``; exit 0 when the draw re-derives."""
    header = (
        '"""Verify a signalhub double-random draw package, with nothing but Python 3.11+.\n\n'
        "Usage: python3 verify_draw.py draw-package.json [--json]\n"
        "Exit status 0: the population hash, the seed (dice plus revealed agency secrets, each\n"
        "matching its commitment) and the recomputed targets and teams all match the package.\n"
        '"""\n\nfrom __future__ import annotations\n\n'
    )
    return header + _body(sampling) + "\n\n" + _body(drawing) + _MAIN

"""`radstack models list|verify|import PATH`: what models and weights this site has, whether the
files are intact (SHA-256), and bringing weights into the weights folder for offline sites."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("models", help="list, verify and import model weights",
                              description="Known backends and weights, SHA-256 checks, offline import.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--weights-dir", type=Path, help="weights folder (default: the configured one)")
    sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    ls = sub.add_parser("list", parents=[common],
                        help="backends, weights present in the weights folder, and label sets")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=handle_list)
    ver = sub.add_parser("verify", parents=[common], help="check every imported file's SHA-256 and load a model")
    ver.add_argument("spec", nargs="?", help="model spec to load (default: RADSTACK_MODEL)")
    ver.add_argument("--sha256", help="expected SHA-256 of the model's weights")
    ver.add_argument("--no-load", action="store_true", help="only check the manifest")
    ver.set_defaults(handler=handle_verify)
    imp = sub.add_parser("import", parents=[common],
                         help="copy a weights file or HF model folder into the weights folder")
    imp.add_argument("path", type=Path)
    imp.add_argument("--backend", choices=("xrv", "densenet22", "hf"), help="default: guessed from the file")
    imp.add_argument("--name", help="xrv weights name / file name / HF model id to store it under")
    imp.add_argument("--sha256", help="refuse the file unless its SHA-256 matches")
    imp.add_argument("--force", action="store_true", help="replace an existing file")
    imp.add_argument("--no-check", action="store_true", help="do not test-load the imported model")
    imp.set_defaults(handler=handle_import)


def _weights_dir(args: argparse.Namespace) -> Path:
    from shared.config import get_settings

    return Path(args.weights_dir or get_settings().resolved_weights_dir)


def _hf_labels(folder: Path) -> list[str]:
    from shared.labels import canonical_label
    from workers.models.base import unique_labels

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
    return list(unique_labels([canonical_label(id2label[i]) for i in sorted(id2label)]))


def catalogue(weights_dir: Path) -> list[dict[str, Any]]:
    """Every model this site could run, with where its weights are (or would go) and its labels."""
    from shared.labels import DENSENET22, canonical_label
    from workers.models.xrv_backend import known_weights, published_filename

    manifest = _manifest(weights_dir)
    rows: list[dict[str, Any]] = [{"spec": "demo", "present": True, "path": None, "labels": list(DENSENET22),
                                   "note": "seeded weights, DEMO MODEL, NOT FOR CLINICAL USE"}]
    for name, meta in sorted(known_weights().items()):
        candidates = [weights_dir / "xrv" / f"{name}.pt", weights_dir / "xrv" / (published_filename(name) or "")]
        found = next((c for c in candidates if c.is_file()), None)
        labels = list(dict.fromkeys(canonical_label(lbl) for lbl in meta["labels"] if lbl))
        rows.append({"spec": f"xrv:{name}", "present": found is not None, "path": str(found or candidates[0]),
                     "labels": labels, "sha256": _recorded(manifest, weights_dir, found),
                     "note": f"{meta.get('input_resolution', 224)} px; fetch {meta['weights_url']}"})
    for path in sorted((weights_dir / "densenet22").glob("*.pt*")):
        rows.append({"spec": f"densenet22:{path.name}", "present": True, "path": str(path),
                     "labels": list(DENSENET22), "sha256": _recorded(manifest, weights_dir, path)})
    for folder in sorted(p for p in (weights_dir / "hf").glob("*") if (p / "config.json").is_file()):
        rows.append({"spec": f"hf:{folder.name.replace('__', '/')}", "present": True, "path": str(folder),
                     "labels": _hf_labels(folder), "sha256": _recorded(manifest, weights_dir, folder)})
    return rows


def _manifest(weights_dir: Path) -> dict[str, dict[str, Any]]:
    from workers.models.weights import read_manifest

    return read_manifest(weights_dir)


def _recorded(manifest: dict[str, dict[str, Any]], weights_dir: Path, path: Path | None) -> str | None:
    if path is None:
        return None
    return manifest.get(path.relative_to(weights_dir).as_posix(), {}).get("sha256")


def handle_list(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from workers.models import BACKENDS

    weights_dir = _weights_dir(args)
    rows = catalogue(weights_dir)
    if args.json:
        print(json.dumps({"weights_dir": str(weights_dir), "configured": get_settings().model,
                          "backends": BACKENDS, "models": rows}, indent=2))
        return 0
    print(f"weights folder: {weights_dir}\nconfigured model (RADSTACK_MODEL): {get_settings().model}\n")
    print("backends:")
    for name, text in BACKENDS.items():
        print(f"  {name:11s} {text}")
    print("\nmodels:")
    for row in rows:
        mark = "present" if row["present"] else "missing"
        print(f"  {row['spec']:36s} {mark:8s} {row.get('path') or ''}")
        if row.get("sha256"):
            print(f"  {'':36s} sha256 {row['sha256']}")
        if row.get("note"):
            print(f"  {'':36s} {row['note']}")
        print(f"  {'':36s} labels: {', '.join(row['labels'])}")
    return 0


def _sha_of(path: Path) -> str:
    from workers.models.hf_backend import weight_files
    from workers.models.weights import sha256_file, sha256_files

    return sha256_files(weight_files(path)) if path.is_dir() else sha256_file(path)


def handle_verify(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from workers.models import WeightsChecksumMismatch, WeightsNotFound, load_classifier

    weights_dir = _weights_dir(args)
    failures = 0
    for relpath, entry in sorted(_manifest(weights_dir).items()):
        path = weights_dir / relpath
        try:
            actual = _sha_of(path)
        except FileNotFoundError:
            print(f"MISSING  {relpath}")
            failures += 1
            continue
        ok = actual == entry.get("sha256")
        failures += 0 if ok else 1
        was = "" if ok else f" (imported as {entry.get('sha256')})"
        print(f"{'OK      ' if ok else 'CHANGED '} {relpath}  {actual}{was}")
    if not args.no_load:
        settings = get_settings()
        spec = args.spec or settings.model
        try:
            clf = load_classifier(spec, weights_dir=weights_dir, device=settings.device, expected_sha256=args.sha256)
        except (WeightsNotFound, WeightsChecksumMismatch, ValueError) as exc:
            print(f"FAILED   {spec}: {exc}")
            return 1
        info = clf.info
        print(f"LOADED   {info.model_id} ({info.version}){' DEMO MODEL' if info.is_demo else ''}\n"
              f"         sha256 {info.weights_sha256}\n         labels: {', '.join(info.labels)}")
    return 1 if failures else 0


def _guess_backend(path: Path) -> tuple[str, str | None]:
    """(backend, xrv weights name if recognised)."""
    from workers.models.xrv_backend import _name_for_file

    if path.is_dir():
        return "hf", None
    name = _name_for_file(path)
    if name:
        return "xrv", name
    from workers.models.weights import extract_state_dict, load_torch_file

    state = extract_state_dict(load_torch_file(path, "cpu"), path)
    head = next((v for k, v in state.items() if k.endswith("classifier.weight") or k.endswith("fc.weight")), None)
    if head is not None and head.shape[0] == 22:
        return "densenet22", None
    raise ValueError(f"cannot tell which backend {path.name} is for; pass --backend (and --name for xrv)")


def handle_import(args: argparse.Namespace) -> int:
    from workers.models import load_classifier
    from workers.models.weights import check_sha256, record_manifest

    src: Path = args.path.expanduser()
    if not src.exists():
        print(f"radstack models import: {src} does not exist", file=sys.stderr)
        return 2
    weights_dir = _weights_dir(args)
    try:
        backend, xrv_name = (args.backend, None) if args.backend else _guess_backend(src)
        if backend == "xrv":
            from workers.models.xrv_backend import _name_for_file, known_weights

            name = args.name or xrv_name or _name_for_file(src)
            if name not in known_weights():
                raise ValueError(f"name the xrv weights with --name (one of {', '.join(sorted(known_weights()))})")
            dest, spec = weights_dir / "xrv" / f"{name}.pt", f"xrv:{name}"
        elif backend == "densenet22":
            dest = weights_dir / "densenet22" / (args.name or src.name)
            spec = f"densenet22:{dest.name}"
        else:
            model_id = args.name or src.name
            dest, spec = weights_dir / "hf" / model_id.replace("/", "__"), f"hf:{model_id}"
        sha = _sha_of(src)
        check_sha256(sha, args.sha256, src)
    except (ValueError, FileNotFoundError) as exc:
        print(f"radstack models import: {exc}", file=sys.stderr)
        return 2
    if dest.exists() and not args.force:
        print(f"radstack models import: {dest} exists (use --force to replace it)", file=sys.stderr)
        return 2
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".importing")
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    shutil.copytree(src, tmp) if src.is_dir() else shutil.copy2(src, tmp)
    if dest.is_dir():
        shutil.rmtree(dest)
    tmp.replace(dest)
    if not args.no_check:
        try:
            load_classifier(spec, weights_dir=weights_dir, expected_sha256=sha)
        except Exception as exc:  # noqa: BLE001 - any failure means the import is unusable
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
            print(f"radstack models import: {src} does not load as {spec}: {exc}", file=sys.stderr)
            return 1
    record_manifest(weights_dir, dest.relative_to(weights_dir).as_posix(), {
        "sha256": sha, "spec": spec, "source": str(src.resolve()),
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    print(f"imported {src} -> {dest}\n  sha256 {sha}\n  use: RADSTACK_MODEL={spec}")
    return 0

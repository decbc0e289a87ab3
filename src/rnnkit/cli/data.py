"""``rnnkit data list``: the registered datasets, where each file is found or would come from."""

from __future__ import annotations

import argparse


def add_commands(commands) -> None:
    data = commands.add_parser(
        "data",
        help="the registered datasets",
        description="Datasets are looked up in $RNNKIT_DATA/NAME/, then in the cache "
        "(~/.cache/rnnkit or $RNNKIT_CACHE), and only then downloaded (RNNKIT_OFFLINE=1 forbids "
        "it).",
    )
    actions = data.add_subparsers(dest="action", required=True, parser_class=type(data))
    listing = actions.add_parser(
        "list", help="each dataset's files: where each is found, or where it would come from"
    )
    listing.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    from rnnkit.data import registry

    home = registry.data_home()
    print(f"# looked up in: {home or '$RNNKIT_DATA (unset)'}, then {registry.cache_dir()}")
    for name, dataset in registry.DATASETS.items():
        print(f"{name}: {dataset.description}")
        for remote in dataset.files.values():
            found = registry.find(name, remote.filename)
            where = f"found at {found}" if found else f"not found; would download {remote.url}"
            print(f"  {remote.filename}: {where}")
    for name, folder in registry.FOLDERS.items():  # datasets of many files (fsdd)
        print(f"{name}: {folder.description}")
        found = registry.find_folder(name)
        where = f"found at {found}" if found else f"not found; would download {folder.archive}"
        print(f"  {folder.folder}/ ({folder.count:,} files): {where}")
    return 0

"""Stage download: get the raw dataset files into a folder, verified, from the first good source."""

from digits import entry
from digits.datasets import DATASETS
from digits.sources import acquire


def main(args, params):
    config = params.download
    acquire(
        DATASETS[config.dataset],
        config.sources,
        args.out,
        timeout_seconds=config.timeout_seconds,
        retries=config.retries,
    )


if __name__ == "__main__":
    cli = entry.parser(__doc__)
    cli.add_argument("--out", required=True, help="folder for the decompressed raw files")
    entry.run(main, cli)

"""Stage train: fit the model chosen in params.train, log its curves with dvclive, save it."""

import sys
from pathlib import Path

from digits import entry, models, storage, training
from digits.datasets import DATASETS


def main(args, params):
    dataset = DATASETS[params.download.dataset]
    data = Path(args.data)
    train = storage.load_npz(data / "train.npz", ("images", "labels"))
    validation = storage.load_npz(data / "validation.npz", ("images", "labels"))
    with storage.atomic_directory(args.live) as live_dir:
        model = training.train(
            params.train,
            (train["images"], train["labels"]),
            (validation["images"], validation["labels"]),
            dataset.num_classes,
            callbacks=[training.live_logger(live_dir)],
            verbose=1 if sys.stdout.isatty() else 2,
        )
        models.save_model(model, args.model)


if __name__ == "__main__":
    cli = entry.parser(__doc__)
    cli.add_argument("--data", required=True, help="folder with train.npz and validation.npz")
    cli.add_argument("--model", required=True, help="where to save the .keras model")
    cli.add_argument("--live", required=True, help="dvclive folder for per-epoch metrics")
    entry.run(main, cli)

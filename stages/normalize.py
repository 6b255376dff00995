"""Stage normalize: decode and validate the raw files, scale pixels, split off validation."""

from pathlib import Path

from digits import entry, preparation, storage
from digits.datasets import DATASETS


def main(args, params):
    config = params.normalize
    dataset = DATASETS[params.download.dataset]
    train_images, train_labels = preparation.read_split(
        args.raw, dataset, "train", config.max_train_samples
    )
    test_images, test_labels = preparation.read_split(
        args.raw, dataset, "test", config.max_test_samples
    )
    train_rows, validation_rows = preparation.stratified_split(
        train_labels, config.validation_fraction, config.seed
    )
    splits = {
        "train": (train_images[train_rows], train_labels[train_rows]),
        "validation": (train_images[validation_rows], train_labels[validation_rows]),
        "test": (test_images, test_labels),
    }
    for split, (images, labels) in splits.items():
        storage.save_npz(
            Path(args.out) / f"{split}.npz", images=preparation.scale(images), labels=labels
        )
    summary = preparation.summarize(
        {split: labels for split, (_, labels) in splits.items()}, dataset.num_classes
    )
    storage.write_json(args.summary, summary)


if __name__ == "__main__":
    cli = entry.parser(__doc__)
    cli.add_argument("--raw", required=True, help="folder of raw IDX files")
    cli.add_argument("--out", required=True, help="folder for train/validation/test .npz")
    cli.add_argument("--summary", required=True, help="data-summary JSON (a DVC metric)")
    entry.run(main, cli)

"""Stage report: write a Markdown report with figures from the metrics, curves and mistakes."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from digits import entry, evaluation, reporting, storage


def main(args, params):
    config = params.report
    metrics = json.loads(Path(args.metrics).read_text())
    data_summary = json.loads(Path(args.data_summary).read_text())
    predictions = pd.read_csv(args.predictions)
    actual, predicted = predictions["actual"].to_numpy(), predictions["predicted"].to_numpy()
    test = storage.load_npz(args.test, ("images",))
    wrong = np.flatnonzero(actual != predicted)[: config.misclassified_examples]
    used = {name: dataclasses.asdict(getattr(params, name)) for name in ("normalize", "train")}
    with storage.atomic_directory(args.out) as out:
        reporting.plot_curves(
            reporting.read_curves(args.live), out / "training_curves.png", config.dpi
        )
        reporting.plot_confusion(
            evaluation.confusion_matrix(actual, predicted, len(metrics["per_class"])),
            out / "confusion_matrix.png",
            config.dpi,
        )
        if len(wrong):
            reporting.plot_misclassified(
                test["images"][wrong],
                actual[wrong],
                predicted[wrong],
                out / "misclassified.png",
                config.dpi,
            )
        markdown = reporting.render_markdown(
            metrics, data_summary, used, int(np.sum(actual != predicted)), len(wrong)
        )
        (out / "report.md").write_text(markdown, encoding="utf-8")


if __name__ == "__main__":
    cli = entry.parser(__doc__)
    for name, text in [
        ("--metrics", "evaluation metrics JSON"),
        ("--data-summary", "data-summary JSON"),
        ("--predictions", "actual,predicted CSV"),
        ("--test", "test.npz"),
        ("--live", "dvclive folder of the train stage"),
        ("--out", "report folder to write"),
    ]:
        cli.add_argument(name, required=True, help=text)
    entry.run(main, cli)

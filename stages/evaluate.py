"""Stage evaluate: score the model on the test set; write metrics and per-sample predictions."""

from digits import entry, evaluation, models, storage
from digits.batches import in_order


def main(args, params):
    test = storage.load_npz(args.test, ("images", "labels"))
    model = models.load_model(args.model)
    # Batches without tf.data's autotuning: Keras' own pipeline for arrays autotunes, and
    # its spent iterator then waits for the autotuner (batches.without_autotuning).
    probabilities = model.predict(in_order(test["images"], params.evaluate.batch_size), verbose=0)
    storage.write_json(args.metrics, evaluation.summarize(test["labels"], probabilities))
    predicted = probabilities.argmax(axis=1)
    storage.write_text(args.predictions, evaluation.predictions_csv(test["labels"], predicted))


if __name__ == "__main__":
    cli = entry.parser(__doc__)
    cli.add_argument("--model", required=True, help="the trained .keras model")
    cli.add_argument("--test", required=True, help="test.npz from the normalize stage")
    cli.add_argument("--metrics", required=True, help="metrics JSON to write")
    cli.add_argument("--predictions", required=True, help="CSV of actual,predicted per test image")
    entry.run(main, cli)

"""`python -m digits.params --schema params.schema.json`: write the JSON Schema of params.yaml."""

from digits.params.loading import main

main()

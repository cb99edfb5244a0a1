# Two commands do everything on a fresh machine:
#   make demo   create the environment and run the end-to-end demo
#   make test   create the environment and run the test suite
.PHONY: setup demo test serve bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/rca-service demo --yes

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider tests

serve: setup
	.venv/bin/rca-service serve

bench: setup
	.venv/bin/python benchmarks/ingest.py
	.venv/bin/python benchmarks/detect.py
	.venv/bin/python benchmarks/detect_then_rank.py
	.venv/bin/python benchmarks/rca_accuracy.py

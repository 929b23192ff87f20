# The two entry points of the README: `make demo` (the main job on the embedded synthetic data) and `make test`.
# Both create the pinned environment in .venv first (torch/torchvision install from the local wheel cache here).
PY      := .venv/bin/python
STAMP   := .venv/.installed-0.1
TORCH   := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-fast check-export nbtest pytest venv mutate

venv: $(STAMP)

$(STAMP): settings.ini setup.py
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH) -e ".[dev]"
	touch $@

demo: $(STAMP)
	.venv/bin/sagan_nb demo --out paper_figures/out

# nbdev_export and nbdev_clean must leave the committed files unchanged (notebooks are the source of truth).
check-export: $(STAMP)
	.venv/bin/nbdev_export
	.venv/bin/nbdev_clean
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- sagan_nb nbs paper_figures || \
	  { echo "nbdev_export/nbdev_clean changed committed files: export and clean, then commit"; exit 1; }; fi

nbtest: $(STAMP)
	OMP_NUM_THREADS=1 .venv/bin/nbdev_test --n_workers 2 --timing

# Both cores: two pytest workers, one thread each, a test file to a worker (its module fixtures are built once).
pytest: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -n 2 --dist loadfile --durations=12 -ra

test: check-export nbtest pytest

# Day-to-day: the tests not marked slow (no learning runs, no compilation, no demo), a few minutes on 2 cores.
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -m "not slow" -q

# Twenty-one plausible wrong SaGANs (and baselines), one at a time, to a copy of what git tracks: after the unmutated copy
# passes the whole fast suite, each must fail a test of tests/test_paper.py that passed unmutated (not in `test`).
mutate: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) tools/mutate.py

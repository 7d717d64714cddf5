"""One module per workflow rule, named as the rule: each has the function its rule script
and ``python -m eotrend <stage>`` call."""

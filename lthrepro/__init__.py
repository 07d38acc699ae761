"""lthrepro: a reproducibility package for the Lottery Ticket Hypothesis and its follow-ups.

Data flows one way: preset -> config -> data + model -> train -> prune -> results -> plot/compare.
"""

__version__ = "0.1.0"

"""``python -m lthrepro.stability lenet --profile budget``: the stability chapter's command line
(``lthrepro/stability.py`` is its published name). Bad input ends in one line on stderr, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

from lthrepro.core.config import ConfigError
from lthrepro.core.data import DataError
from lthrepro.core.userargs import SEED, Parser, check_device, folder, int_option, parse_overrides
from lthrepro.experiments import lottery, stability
from lthrepro.store import results as res


def main(argv: list[str] | None = None) -> int:
    """``python -m lthrepro.stability lenet --profile budget``: train (or resume) a stability run."""
    p = Parser(prog="python -m lthrepro.stability",
                                description=stability.__doc__.splitlines()[0])
    p.add_argument("preset", help=f"one of {', '.join(stability.SPECS)}")
    p.add_argument("--profile", default="budget")
    p.add_argument("--seeds", type=SEED, nargs="+")
    p.add_argument("--ks", type=int_option(0), nargs="+", help="rewind points of the dense pairs")
    p.add_argument("--chain-ks", type=int_option(0), nargs="+", help="rewind points of the IMP chains / sparse pairs")
    p.add_argument("--continue-ks", type=int_option(0), nargs="+",
                   help="rewind points of the side-result dense pairs that continue the parent's optimizer state")
    p.add_argument("--levels", type=int_option(1), nargs="+", help="IMP levels of the sparse pairs")
    p.add_argument("--kinds", nargs="+", help="mask sources of the sparse pairs (imp random reinit)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--group", type=int_option(1), default=None, help="max networks trained together")
    p.add_argument("--results", type=folder, default=None, help="results root (default: ./results)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.add_argument("--force", action="store_true", help="extend a results folder trained under other numerics "
                   "(another CPU kind, or changed code); the mix is recorded in provenance.json")
    a = p.parse_args(argv)
    try:
        over = {k: tuple(v) for k, v in (("ks", a.ks), ("chain_ks", a.chain_ks), ("levels", a.levels),
                                         ("kinds", a.kinds), ("continue_ks", a.continue_ks)) if v}
        sets, seeds = parse_overrides(a.set), a.seeds
        if "levels" in sets:  # (the chains' levels follow from the pairs' levels)
            raise ConfigError("a stability run's levels are its sparse pairs' IMP levels: give them with --levels")
        if "seeds" in sets:  # the trials of a stability run are its Spec's seeds
            if seeds:
                raise ConfigError("seeds given by both --seeds and --set seeds; give them once")
            seeds = sets.pop("seeds")
            if not isinstance(seeds, tuple):
                raise ConfigError(f"seeds is {seeds!r}; give a list of seeds, e.g. --set seeds=[0,1]")
        cfg, spec = stability.make(a.preset, a.profile, seeds, over, **sets)
        check_device(a.device)
        d = stability.Experiment(cfg, spec, a.device, Path(a.results) if a.results else None,
                                 max_group=a.group, force=a.force).run()
    except (ConfigError, DataError, res.ResultsError, lottery.NoTrainError) as e:
        sys.stderr.write("lthrepro.stability: error: " + " ".join(str(e).split()) + "\n")
        return 2
    print(f"results: {d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What re-running a book page costs: the wall time its results took (measured, from the
``provenance.json`` of the runs it reads) and the estimate for one GPU, for the "Re-run it
yourself" table (``landing.rerun_table``)."""

from __future__ import annotations

GPU_ESTIMATE = {"lenet": "≈ 10 min (estimate)", "conv": "≈ 20 min (estimate, sized for one H100)",
                "vgg": "≈ 20 min (estimate, sized for one H100)", "big": "≈ 20 min (estimate, sized for one H100)",
                "dlt": "≈ 5 min (estimate)"}


DLT_FAMILIES = {"dlt_criteria": ["criteria"], "dlt_mask1": ["mask1"], "dlt_mask0": ["mask0"],
                "dlt_supermasks": ["learned"]}


def configs(stem: str, params: dict) -> list:
    from lthrepro.scale import figures
    key = figures.figure_key(stem)
    if key is not None:
        return figures.configs(key, params)
    if stem in DLT_FAMILIES:
        from lthrepro.experiments import supermask
        return supermask.family_configs(params["PRESET"], params["PROFILE"], DLT_FAMILIES[stem],
                                        **{**params["OVERRIDES"], "seeds": tuple(params["SEEDS"])})
    return []


def wall(params: dict, stem: str) -> tuple[str, str]:
    """(measured time, device) of the runs a page reads, from their provenance.json."""
    from lthrepro.core import config
    from lthrepro.store import results
    cfgs = configs(stem, params) if params else []
    sessions, pending = {}, 0  # runs trained together share one session: count it once
    for cfg in cfgs:
        prov = results.resolve_root(params["RESULTS_DIR"]) / config.run_name(cfg) / "provenance.json"
        if not prov.exists():  # a run not started yet (a page showing a campaign in progress)
            pending += 1
            continue
        for s in results.read_json(prov)["sessions"]:
            # only sessions that trained trials the page reads (a folder's later trials, e.g. a
            # campaign's, cost the page nothing); sessions that did not record their seeds count
            if s.get("seeds") is None or set(s["seeds"]) & set(cfg.seeds):
                sessions[(s["date"], s["wall_seconds"], s["device"])] = s
    devices = "; ".join(sorted({s["device"] for s in sessions.values()}))
    if not sessions:
        return "", ""
    so_far = f" so far, {pending} of {len(cfgs)} runs pending" if pending else ""
    return wall_text(list(sessions.values())) + so_far, devices


def wall_text(sessions: list[dict]) -> str:
    """Wall time of sessions, counting time they ran side by side once (issue 22: two trials
    trained in parallel for 126 min were shown as 251 min); process time beside it when it differs."""
    from datetime import datetime

    def span(s: dict) -> tuple[float, float]:  # "started" (ISO); older records: "date" is the end, to the minute
        if s.get("started"):
            t = datetime.fromisoformat(s["started"].replace("Z", "+00:00")).timestamp()
            return t, t + s["wall_seconds"]
        end = datetime.strptime(s["date"] + " +0000", "%Y-%m-%d %H:%M UTC %z").timestamp()
        return end - s["wall_seconds"], end
    spans = sorted(span(s) for s in sessions)
    wall, end = 0.0, -float("inf")
    for a, b in spans:
        wall += max(0.0, b - max(a, end))
        end = max(end, b)
    process = sum(s["wall_seconds"] for s in sessions)
    side = f" ({process / 60:.0f} min of {len(sessions)} sessions side by side)" if process > wall + 60 else ""
    return f"{wall / 60:.0f} min{side}"

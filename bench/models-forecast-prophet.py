"""Prophet on the same rolling-origin backtest as cartflow's forecasts (driven by bench/models-forecast-prophet.ts).

Reads one JSON document on stdin:

    {"series": [{"key": str, "firstDay": "YYYY-MM-DD", "values": [float], "horizon": int,
                 "origins": [int], "holidays": [{"ds": "YYYY-MM-DD", "holiday": str}],
                 "closedWeekdays": [ISO 1..7], "skipDays": ["YYYY-MM-DD"],
                 "fits": [{"variant": str, "origin": int}] (optional)}],
     "variants": ["default" | "closed"]}

A series with `fits` is fitted on those (variant, origin) pairs only (the others were cached by the
caller); without it, on every variant and origin.

For each series, origin and variant it fits Prophet on the days before the origin (index into
`values`, day 0 = firstDay) and forecasts `horizon` days from it; it writes one JSON line per fit:
{"key", "variant", "origin", "point", "lower80", "upper80", "lower95", "upper95", "seconds"}.

- default: Prophet() with its default settings (trend changepoints, weekly seasonality, yearly
  seasonality from two years of data, 1000 uncertainty samples) and the same holidays as cartflow
  (passed as Prophet's holidays data frame, one effect per name); every day of the history, the point
  is yhat, the intervals are the 2.5/10/90/97.5% quantiles of Prophet's predictive samples.
- closed: the same model given cartflow's handling of closed days (what Prophet's documentation
  suggests for days that say nothing about demand): the zero days of closed weekdays and the skipped
  days without orders (unless holidays) are left out of the history, closed weekdays are forecast as
  0, and the point and intervals are clamped at 0 (the series have no negative day).
"""

import json
import logging
import sys
import time

import numpy as np
import pandas as pd
from prophet import Prophet

logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
logging.getLogger("prophet").setLevel(logging.ERROR)


def fit_one(series, origin, variant):
    first = pd.Timestamp(series["firstDay"])
    horizon = series["horizon"]
    values = np.asarray(series["values"][:origin], dtype=float)
    days = pd.date_range(first, periods=origin, freq="D")
    history = pd.DataFrame({"ds": days, "y": values})
    future_days = pd.date_range(first + pd.Timedelta(days=origin), periods=horizon, freq="D")
    closed = set(series.get("closedWeekdays", []))
    holiday_days = {h["ds"] for h in series["holidays"]}
    if variant == "closed":
        skip = set(series.get("skipDays", []))
        iso = history["ds"].dt.dayofweek + 1
        text = history["ds"].dt.strftime("%Y-%m-%d")
        left_out = ((history["y"] == 0) & iso.isin(closed)) | (text.isin(skip) & ~text.isin(holiday_days))
        history = history[~left_out]
    holidays = (
        pd.DataFrame({"holiday": [h["holiday"] for h in series["holidays"]],
                      "ds": pd.to_datetime([h["ds"] for h in series["holidays"]])})
        if series["holidays"] else None
    )
    np.random.seed(0)
    started = time.perf_counter()
    model = Prophet(holidays=holidays)
    model.fit(history)
    future = pd.DataFrame({"ds": future_days})
    point = model.predict(future)["yhat"].to_numpy()
    samples = model.predictive_samples(future)["yhat"]
    q025, q10, q90, q975 = (np.percentile(samples, q, axis=1) for q in (2.5, 10, 90, 97.5))
    seconds = time.perf_counter() - started
    out = [point, q10, q90, q025, q975]
    if variant == "closed":
        is_closed = (future_days.dayofweek + 1).isin(closed)
        out = [np.where(is_closed, 0.0, np.maximum(a, 0.0)) for a in out]
    point, lower80, upper80, lower95, upper95 = (a.tolist() for a in out)
    return {"key": series["key"], "variant": variant, "origin": origin, "point": point,
            "lower80": lower80, "upper80": upper80, "lower95": lower95, "upper95": upper95,
            "seconds": seconds}


def main():
    request = json.load(sys.stdin)
    for series in request["series"]:
        fits = series.get("fits") or [
            {"variant": variant, "origin": origin}
            for variant in request["variants"] for origin in series["origins"]
        ]
        for fit in fits:
            sys.stdout.write(json.dumps(fit_one(series, fit["origin"], fit["variant"])) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The established implicit-ALS library on cartflow's own time split, for `npm run bench:recommendations
-- --compare-implicit` (bench/recommendations.ts exports the split and runs this; see
docs/models-recommendations.md). Prints one JSON object and asserts nothing.

Input: a folder with
  products.csv  product_id: every product cartflow ranks (the full side's, so both rank the same products)
  train.csv     customer_id, product_id, weight, bought: the interactions up to the split S, as the activity
                reads them (weight w; bought = 1 when bought up to S)
  test.csv      customer_id, product_id: purchases in (S, D] of products the customer had not bought up to S

The evaluation is cartflow's (ml/recommend.ts, evaluateRecommenders): test customers have at least one
interaction up to S and at least one relevant product; each list is the top 10 of x_u·y_j over all products,
leaving out what the customer bought up to S, ties to the lower product index (the products' order in
products.csv); HR@10 and binary NDCG@10, averaged over test customers.

The library: `implicit` 0.7.2's AlternatingLeastSquares (CPU, conjugate gradient, 3 steps, as cartflow).
It weighs a cell by C = alpha × (its value) and solves with confidence C, so the value passed is
1/alpha + w: C = 1 + alpha·w, cartflow's confidence. Every configuration of the grid is fitted with three
seeds; the mean is reported.
"""

import csv
import json
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import implicit  # noqa: E402
from implicit.als import AlternatingLeastSquares  # noqa: E402


def read(folder):
    with open(os.path.join(folder, "products.csv"), newline="") as f:
        products = [r["product_id"] for r in csv.DictReader(f)]
    product_index = {p: j for j, p in enumerate(products)}
    customers = {}
    rows, cols, weights = [], [], []
    bought = {}
    with open(os.path.join(folder, "train.csv"), newline="") as f:
        for r in csv.DictReader(f):
            u = customers.setdefault(r["customer_id"], len(customers))
            j = product_index[r["product_id"]]
            rows.append(u)
            cols.append(j)
            weights.append(float(r["weight"]))
            if r["bought"] == "1":
                bought.setdefault(u, set()).add(j)
    relevant = {}
    with open(os.path.join(folder, "test.csv"), newline="") as f:
        for r in csv.DictReader(f):
            u = customers.get(r["customer_id"])
            j = product_index.get(r["product_id"])
            if u is None or j is None:
                continue  # no interaction up to S, or a product cartflow does not rank
            relevant.setdefault(u, set()).add(j)
    w = sp.csr_matrix(
        (np.array(weights, dtype=np.float32), (np.array(rows), np.array(cols))),
        shape=(len(customers), len(products)),
    )
    return w, bought, relevant


def evaluate(user_factors, item_factors, bought, relevant, k=10):
    users = sorted(relevant)
    hr = ndcg = 0.0
    scores = user_factors[users] @ item_factors.T
    for row, u in enumerate(users):
        s = scores[row].astype(np.float64)
        for j in bought.get(u, ()):
            s[j] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        wanted = relevant[u]
        hits = [r for r, j in enumerate(top) if j in wanted]
        hr += 1.0 if hits else 0.0
        dcg = sum(1 / math.log2(r + 2) for r in hits)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(wanted))))
        ndcg += dcg / ideal
    return {"hr": hr / len(users), "ndcg": ndcg / len(users), "customers": len(users)}


def main():
    folder = sys.argv[1]
    config = json.loads(sys.argv[2])
    w, bought, relevant = read(folder)
    grid = config["grid"]
    results = []
    for factors in grid["factors"]:
        for regularization in grid["regularization"]:
            for alpha in grid["alpha"]:
                confidence = w.copy()
                confidence.data = confidence.data + np.float32(1 / alpha)
                runs = []
                started = time.time()
                for seed in config["seeds"]:
                    model = AlternatingLeastSquares(
                        factors=factors,
                        regularization=regularization,
                        alpha=alpha,
                        iterations=config["iterations"],
                        use_cg=True,
                        calculate_training_loss=False,
                        random_state=seed,
                        num_threads=1,
                    )
                    model.cg_steps = 3  # its default; set so that a change of default shows
                    model.fit(confidence, show_progress=False)
                    runs.append(
                        evaluate(np.asarray(model.user_factors), np.asarray(model.item_factors), bought, relevant)
                    )
                results.append(
                    {
                        "factors": factors,
                        "regularization": regularization,
                        "alpha": alpha,
                        "hr": float(np.mean([r["hr"] for r in runs])),
                        "ndcg": float(np.mean([r["ndcg"] for r in runs])),
                        "hrRange": [min(r["hr"] for r in runs), max(r["hr"] for r in runs)],
                        "customers": runs[0]["customers"],
                        "seconds": (time.time() - started) / len(runs),
                    }
                )
    print(
        json.dumps(
            {
                "implicit": implicit.__version__,
                "customers": w.shape[0],
                "products": w.shape[1],
                "interactions": int(w.nnz),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()

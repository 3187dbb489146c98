/** Types for the parts of benfred's `fmin` (BSD-3-Clause) that `ml/` uses; the package ships none. */
declare module 'fmin' {
  /** One point of the search: where, the objective there and its gradient. */
  export interface FminPoint {
    x: number[];
    fx: number;
    fxprime: number[];
  }

  /**
   * Polak–Ribière conjugate gradient with a Wolfe line search. `f(x, gradient)` returns the
   * objective at x and writes its gradient into `gradient`. It stops when the gradient's norm is
   * at most 1e-5 or after `maxIterations`; `history.push` is called after every iteration and once
   * at the end.
   */
  export function conjugateGradient(
    f: (x: number[], gradient: number[]) => number,
    initial: number[],
    params?: { maxIterations?: number; history?: { push(point: FminPoint & { alpha: number }): void } },
  ): FminPoint;
}

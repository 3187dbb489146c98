import { cachedHealth, type HealthDeps, type HealthReport } from '../../server/health';

const deps = {} as HealthDeps; // the probe below is a stand-in and reads nothing from it

/** A probe that counts its calls and answers when `finish` is called, with the call's number. */
function controlledProbe() {
  const calls: ((report: HealthReport) => void)[] = [];
  const probe = () =>
    new Promise<HealthReport>((resolve) => {
      calls.push(resolve);
    });
  const finish = (index: number) =>
    calls[index]({ status: 'up', components: { probe: { up: true, detail: `call ${index}` } } });
  return { probe, calls, finish };
}

const detail = (report: HealthReport) => report.components.probe.detail;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GET /health behind a short cache', () => {
  it('shares one probe among concurrent requests and reuses its report until it is too old', async () => {
    const { probe, calls, finish } = controlledProbe();
    const health = cachedHealth(deps, 200, probe);
    const concurrent = [health(), health(), health()];
    expect(calls).toHaveLength(1);
    finish(0);
    expect((await Promise.all(concurrent)).map(detail)).toEqual(['call 0', 'call 0', 'call 0']);
    expect(detail(await health())).toBe('call 0');
    expect(calls).toHaveLength(1);

    await sleep(250);
    // Too old to reuse: one new probe starts, and the callers meanwhile get the last report at once.
    const during = [health(), health()];
    expect(calls).toHaveLength(2);
    expect((await Promise.all(during)).map(detail)).toEqual(['call 0', 'call 0']);
    finish(1);
    await sleep(0);
    expect(detail(await health())).toBe('call 1');
    expect(calls).toHaveLength(2);
  });

  it('makes callers wait for the probe when the last report is older than the stale limit', async () => {
    const { probe, calls, finish } = controlledProbe();
    const health = cachedHealth(deps, 50, probe, 100);
    const first = health();
    finish(0);
    await first;
    await sleep(200); // past 50 + 100 ms
    let answered: string | undefined;
    const late = health().then((report) => (answered = detail(report)));
    await sleep(20);
    expect(calls).toHaveLength(2);
    expect(answered).toBeUndefined();
    finish(1);
    await late;
    expect(answered).toBe('call 1');
  });

  it('answers the last report while a probe that fails runs, and probes again after it', async () => {
    let calls = 0;
    let fail: (error: Error) => void = () => undefined;
    const health = cachedHealth(
      deps,
      50,
      () =>
        ++calls === 2
          ? new Promise<HealthReport>((_resolve, reject) => (fail = reject))
          : Promise.resolve<HealthReport>({
              status: 'up',
              components: { probe: { up: true, detail: `call ${calls}` } },
            }),
      10_000,
    );
    expect(detail(await health())).toBe('call 1');
    await sleep(80);
    expect(detail(await health())).toBe('call 1'); // probe 2 runs
    fail(new Error('probe failed'));
    await sleep(0);
    expect(detail(await health())).toBe('call 1'); // probe 3 starts; the last report meanwhile
    await sleep(0);
    expect(detail(await health())).toBe('call 3');
    expect(calls).toBe(3);
  });

  it('does not keep a probe that failed', async () => {
    let calls = 0;
    const health = cachedHealth(deps, 60_000, () =>
      ++calls === 1
        ? Promise.reject(new Error('probe failed'))
        : Promise.resolve<HealthReport>({ status: 'degraded', components: {} }),
    );
    await expect(health()).rejects.toThrow('probe failed');
    expect((await health()).status).toBe('degraded');
    expect(calls).toBe(2);
  });
});

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
    const next = health();
    expect(calls).toHaveLength(2);
    finish(1);
    expect(detail(await next)).toBe('call 1');
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

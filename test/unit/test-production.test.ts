import fs from 'node:fs';
import path from 'node:path';
import { composeVersions, parseEnvFile } from '../../scripts/temporal-cluster';

const root = path.resolve(__dirname, '../..');
const compose = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');

describe('npm run test:production runs what docker-compose.yml deploys (scripts/test-production.ts)', () => {
  test('the Temporal Server version and its Postgres major come from docker-compose.yml', () => {
    expect(composeVersions(compose)).toEqual({ temporal: '1.30.4', postgresMajor: 16 });
  });

  test('a compose file whose admin-tools and server differ in version is refused', () => {
    const drifted = compose.replace('temporalio/admin-tools:1.30.4', 'temporalio/admin-tools:1.29.0');
    expect(() => composeVersions(drifted)).toThrow(
      'docker-compose.yml runs Temporal Server 1.30.4 but temporalio/admin-tools:1.29.0; give them one version.',
    );
  });

  test('the temporal services of docker-compose.yml read deploy/temporal/server.env, which sets SQL persistence', () => {
    expect(compose.match(/env_file: deploy\/temporal\/server\.env/g)).toHaveLength(3);
    const env = parseEnvFile(fs.readFileSync(path.join(root, 'deploy/temporal/server.env'), 'utf8'));
    expect(env).toMatchObject({
      DB: 'postgres12',
      DBNAME: 'temporal',
      VISIBILITY_DBNAME: 'temporal_visibility',
    });
    expect(() => parseEnvFile('DB postgres12')).toThrow('"DB postgres12" is not KEY=value');
  });
});

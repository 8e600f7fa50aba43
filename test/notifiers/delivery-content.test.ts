import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { loadDeliveryContent } from '../../notifiers/delivery-content.js';
import { testOutput } from '../helpers/fixtures.js';
import { storeIncident } from '../helpers/stored-incident.js';

const dir = mkdtempSync(join(testOutput, 'delivery-content-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadDeliveryContent', () => {
  it('names the hottest functions from summary.json, and still sends when that file is damaged', async () => {
    const store = await IncidentStore.open(dir);
    try {
      const record = await storeIncident(store, { notify: ['oncall-slack'] });
      const content = await loadDeliveryContent(store, record.id, 'https://tail2.example.net/');
      expect(content?.message.topFunctions[0].name).toBe('pg_extension_spin');
      expect(content?.message.url).toBe(`https://tail2.example.net/incidents/${record.id}`);
      expect(content?.flamegraphPng?.byteLength).toBeGreaterThan(1000);

      writeFileSync(store.artifactPath(record.id, 'summary.json')!, '{"samples": 12, "topFunc');
      const damaged = await loadDeliveryContent(store, record.id, 'https://tail2.example.net');
      expect(damaged?.message.topFunctions).toEqual([]);
      expect(damaged?.message.trigger).toContain('cpu');
      expect(await loadDeliveryContent(store, '20260101T000000Z-gone-aaaaaa', 'x')).toBeUndefined();
    } finally {
      store.close();
    }
  });
});

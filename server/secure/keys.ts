// An aggregator's HPKE key pair, generated on first start and kept in its data directory
// (readable by the owner only), so shoppers' cached copies of the public config stay valid.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AggregatorKeyPair, exportPrivateKey, generateAggregatorKeyPair, importAggregatorKeyPair } from '../../federated/secure/hpke.ts';
import { writeFileDurably } from '../integrity-files.ts';
import { b64, unb64 } from './messages.ts';

const KEY_FILE = 'hpke-key.json';

interface StoredKey {
  id: number;
  publicKey: string;
  privateKey: string;
}

export async function loadOrCreateKeyPair(dir: string, configId = 1): Promise<AggregatorKeyPair> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, KEY_FILE);
  if (existsSync(path)) {
    const k = JSON.parse(readFileSync(path, 'utf8')) as StoredKey;
    return importAggregatorKeyPair({ id: k.id, publicKey: unb64(k.publicKey) }, unb64(k.privateKey));
  }
  const pair = await generateAggregatorKeyPair(configId);
  const stored: StoredKey = { id: pair.config.id, publicKey: b64(pair.config.publicKey), privateKey: b64(await exportPrivateKey(pair)) };
  writeFileDurably(path, JSON.stringify(stored));
  chmodSync(path, 0o600);
  return pair;
}

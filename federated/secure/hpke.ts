/**
 * HPKE for input shares, as DAP uses it: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM
 * (RFC 9180 ids 0x0020/0x0001/0x0001), single-shot Base mode, via @hpke/core over WebCrypto.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { concatBytes } from '../vdaf/xof.ts';
import { DAP_VERSION_TAG } from './task.ts';
import { ByteReader, ByteWriter } from './wire.ts';

export const KEM_X25519_HKDF_SHA256 = 0x0020;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;

/** DAP's Role enum: the client sends, the leader or helper receives. */
export const ROLE_CLIENT = 0x01;
export const ROLE_LEADER = 0x02;
export const ROLE_HELPER = 0x03;
export type AggregatorRole = 'leader' | 'helper';

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });

/** What an aggregator publishes (DAP's HpkeConfig, restricted to Silo's one suite). */
export interface HpkeConfig {
  id: number;
  publicKey: Uint8Array;
}

export interface AggregatorKeyPair {
  config: HpkeConfig;
  privateKey: CryptoKey;
}

export interface HpkeCiphertext {
  configId: number;
  enc: Uint8Array;
  payload: Uint8Array;
}

export async function generateAggregatorKeyPair(id: number): Promise<AggregatorKeyPair> {
  if (!Number.isInteger(id) || id < 0 || id > 255) throw new Error('HPKE config id must be one byte');
  const pair = await suite.kem.generateKeyPair();
  const publicKey = new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey));
  return { config: { id, publicKey }, privateKey: pair.privateKey };
}

/** Private key as raw bytes, for an aggregator to persist its key pair. */
export async function exportPrivateKey(pair: AggregatorKeyPair): Promise<Uint8Array> {
  return new Uint8Array(await suite.kem.serializePrivateKey(pair.privateKey));
}

export async function importAggregatorKeyPair(config: HpkeConfig, privateKey: Uint8Array): Promise<AggregatorKeyPair> {
  return { config, privateKey: await suite.kem.deserializePrivateKey(privateKey) };
}

export function encodeHpkeConfig(config: HpkeConfig): Uint8Array {
  return new ByteWriter()
    .uint(config.id, 1)
    .uint(KEM_X25519_HKDF_SHA256, 2)
    .uint(KDF_HKDF_SHA256, 2)
    .uint(AEAD_AES_128_GCM, 2)
    .opaque(config.publicKey, 2)
    .finish();
}

export function decodeHpkeConfig(bytes: Uint8Array): HpkeConfig {
  const r = new ByteReader(bytes);
  const id = r.uint(1);
  const kem = r.uint(2);
  const kdf = r.uint(2);
  const aead = r.uint(2);
  const publicKey = r.opaque(2).slice();
  r.end();
  if (kem !== KEM_X25519_HKDF_SHA256 || kdf !== KDF_HKDF_SHA256 || aead !== AEAD_AES_128_GCM) {
    throw new Error('unsupported HPKE suite (Silo uses X25519, HKDF-SHA256, AES-128-GCM)');
  }
  return { id, publicKey };
}

/** "dap-18 input share" || client role || recipient role. */
export function inputShareInfo(role: AggregatorRole): Uint8Array {
  const label = new TextEncoder().encode(`${DAP_VERSION_TAG} input share`);
  return concatBytes([label, new Uint8Array([ROLE_CLIENT, role === 'leader' ? ROLE_LEADER : ROLE_HELPER])]);
}

export async function sealInputShare(
  config: HpkeConfig,
  role: AggregatorRole,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<HpkeCiphertext> {
  const recipientPublicKey = await suite.kem.deserializePublicKey(config.publicKey);
  const { ct, enc } = await suite.seal({ recipientPublicKey, info: inputShareInfo(role) }, plaintext, aad);
  return { configId: config.id, enc: new Uint8Array(enc), payload: new Uint8Array(ct) };
}

/** Throws 'hpke_decrypt_error' for an unknown config id or a failed open, as DAP names it. */
export async function openInputShare(
  keys: AggregatorKeyPair,
  role: AggregatorRole,
  aad: Uint8Array,
  ct: HpkeCiphertext,
): Promise<Uint8Array> {
  if (ct.configId !== keys.config.id) throw new Error('hpke_decrypt_error: unknown HPKE config id');
  try {
    const pt = await suite.open({ recipientKey: keys.privateKey, enc: ct.enc, info: inputShareInfo(role) }, ct.payload, aad);
    return new Uint8Array(pt);
  } catch {
    throw new Error('hpke_decrypt_error: input share did not decrypt');
  }
}

export function writeHpkeCiphertext(w: ByteWriter, ct: HpkeCiphertext): ByteWriter {
  return w.uint(ct.configId, 1).opaque(ct.enc, 2).opaque(ct.payload, 4);
}

export function readHpkeCiphertext(r: ByteReader): HpkeCiphertext {
  const configId = r.uint(1);
  const enc = r.opaque(2).slice();
  const payload = r.opaque(4).slice();
  return { configId, enc, payload };
}

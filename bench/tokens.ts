/**
 * Token verification latency, ES256 and RS256: Node's `crypto.verify` alone (the floor),
 * `jose.jwtVerify` alone, and Verity's verifier on a first-seen and on a cached token — in one
 * run, as numbers and ratios (see bench/RESULTS.md). `npm run bench` runs it as its second
 * section; `node --import @verity/cli/loader bench/tokens.ts [--json]` runs it alone.
 */
import { KeyObject, verify as cryptoVerify, webcrypto } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createTokenVerifier, parseIdentitySource, type IdentitySource, type TokenVerifier } from '@verity/identity';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { formatTable, withRatios, type Row } from './report.js';
import { measure, summarize, type Summary } from './stats.js';

const ALGORITHMS = ['ES256', 'RS256'] as const;
type Alg = (typeof ALGORITHMS)[number];

const ISSUER = 'https://issuer.bench.example';
const AUDIENCE = 'api://bench';
/** Distinct signed tokens per algorithm, made before any timing so signing is never measured. */
const POOL = 2048;
/**
 * First-seen verifiers keep half the pool: cycling through POOL tokens with an LRU of POOL / 2
 * misses on every call (each token was last seen POOL calls ago), and each miss also evicts the
 * oldest entry, as a full cache does in steady state. The hit counter is checked to be 0.
 */
const FIRST_SEEN_CACHE = POOL / 2;

/** What one scenario's timed call needs, prepared before timing. */
interface Prepared {
  alg: Alg;
  jwk: JWK;
  publicKey: KeyObject;
  tokens: string[];
  /** Per token: the JWS signing input (`header.payload`) and the decoded signature. */
  parts: Array<{ input: Buffer; signature: Buffer }>;
}

async function prepare(alg: Alg): Promise<Prepared> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `bench-${alg.toLowerCase()}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const iat = Math.floor(Date.now() / 1000);
  // WebCrypto signs on the libuv pool, so signing in parallel uses every core.
  const tokens = await Promise.all(
    Array.from({ length: POOL }, (_, i) =>
      new SignJWT({ scope: 'todo:read todo:write', groups: ['staff', 'editors'], client_id: 'bench-client', email: `user${i}@bench.example` })
        .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(`user-${i}`)
        .setJti(`jti-${alg}-${i}`)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 3600)
        .sign(privateKey),
    ),
  );
  if (new Set(tokens).size !== POOL) throw new Error(`${alg}: the token pool has duplicates`);
  const parts = tokens.map((token) => {
    const dot = token.lastIndexOf('.');
    return { input: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), 'base64url') };
  });
  return { alg, jwk, publicKey: KeyObject.from(publicKey as webcrypto.CryptoKey), tokens, parts };
}

function source(alg: Alg, keys: unknown): IdentitySource {
  return parseIdentitySource({
    id: `bench-${alg.toLowerCase()}`,
    tenant: 'bench',
    issuer: ISSUER,
    keys,
    audiences: [AUDIENCE],
    algorithms: [alg],
    claims: { principalType: 'User', groupsClaim: 'groups', attributes: { email: 'email' }, context: { scopes: 'scope' } },
  });
}

/** A JWKS over real HTTP on 127.0.0.1, as an issuer would serve it. */
async function serveJwks(keys: JWK[]): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const body = JSON.stringify({ keys });
  const server = createServer((req, res) => {
    requests += 1;
    if (req.url !== '/jwks') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

const TIMING = {
  floor: { warmup: 1000, n: 50_000, budgetMs: 2000 },
  jose: { warmup: 1000, n: 50_000, budgetMs: 2500 },
  firstSeen: { warmup: 1000, n: 50_000, budgetMs: 2500 },
  cached: { warmup: 2000, n: 100_000, budgetMs: 1500 },
};

async function benchAlgorithm(p: Prepared, jwksUrl: string, log: (line: string) => void): Promise<Row[]> {
  const { alg, tokens, parts } = p;
  const summaries: Summary[] = [];
  let k = 0;
  const next = () => k++ % POOL;

  // 1. The floor: one signature check on bytes already split and decoded.
  const cryptoKey = p.alg === 'ES256' ? { key: p.publicKey, dsaEncoding: 'ieee-p1363' as const } : p.publicKey;
  for (const part of parts) if (!cryptoVerify('sha256', part.input, cryptoKey, part.signature)) throw new Error(`${alg}: crypto.verify refused a bench token`);
  log(`${alg} crypto.verify…`);
  const floor = await measure(() => {
    const part = parts[next()] as Prepared['parts'][number];
    if (!cryptoVerify('sha256', part.input, cryptoKey, part.signature)) throw new Error('refused');
  }, TIMING.floor);
  summaries.push(summarize(`${alg} crypto.verify (floor)`, floor.samples, floor.wallNs));

  // Diagnostic: the same check through WebCrypto, which is what jose v6 calls (async, libuv pool).
  const subtleKey = await importJWK(p.jwk, alg);
  const subtleAlg = alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  log(`${alg} crypto.subtle.verify…`);
  const subtle = await measure(async () => {
    const part = parts[next()] as Prepared['parts'][number];
    if (!(await webcrypto.subtle.verify(subtleAlg, subtleKey as webcrypto.CryptoKey, part.signature, part.input))) throw new Error('refused');
  }, TIMING.floor);
  summaries.push(summarize(`${alg} crypto.subtle.verify (diagnostic)`, subtle.samples, subtle.wallNs));

  // 2. jose alone, local key set, the same issuer/audience/algorithm checks.
  const localSet = createLocalJWKSet({ keys: [p.jwk] });
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg] };
  log(`${alg} jose.jwtVerify…`);
  const jose = await measure(async () => {
    const { payload } = await jwtVerify(tokens[next()] as string, localSet, joseOptions);
    if (payload.sub === undefined) throw new Error('no sub');
  }, TIMING.jose);
  summaries.push(summarize(`${alg} jose.jwtVerify, local JWKS`, jose.samples, jose.wallNs));

  // 3. Verity first-seen: every call misses the cache and verifies.
  const firstSeen = async (label: string, verifier: TokenVerifier, sources: IdentitySource[]) => {
    log(`${alg} Verity first-seen, ${label}…`);
    const result = await measure(async () => {
      const verified = await verifier.verify(tokens[next()] as string, sources, { audience: AUDIENCE });
      if (verified.principal.uid.type !== 'User') throw new Error('unexpected principal');
    }, TIMING.firstSeen);
    const stats = verifier.stats();
    if (stats.cache.hits !== 0 || stats.rejected !== 0) throw new Error(`${alg} first-seen ${label}: ${stats.cache.hits} cache hits, ${stats.rejected} rejections`);
    summaries.push(summarize(`${alg} Verity first-seen, ${label}`, result.samples, result.wallNs));
    return stats;
  };
  await firstSeen('inline keys', createTokenVerifier({ cacheSize: FIRST_SEEN_CACHE }), [source(alg, { kind: 'inline', keys: [p.jwk] })]);
  // The bench's JWKS is served over plain HTTP on 127.0.0.1, which a verifier refuses unless told it may.
  const remote = createTokenVerifier({ cacheSize: FIRST_SEEN_CACHE, allowInsecureSources: true });
  const remoteSources = [source(alg, { kind: 'jwks', jwksUri: jwksUrl })];
  // The first call fetches the JWKS, outside the timing: this row is "after the first fetch".
  // Its verification is then purged, so no pool token can hit the cache later.
  await remote.verify(tokens[0] as string, remoteSources, { audience: AUDIENCE });
  remote.purge(() => true);
  const remoteStats = await firstSeen('remote JWKS', remote, remoteSources);
  if (remoteStats.jwksFetches !== 1) throw new Error(`${alg}: the remote JWKS was fetched ${remoteStats.jwksFetches} times`);

  // 4. Verity cached: the same token again and again (sha256 of the token + LRU lookup).
  const cachedVerifier = createTokenVerifier();
  const inline = [source(alg, { kind: 'inline', keys: [p.jwk] })];
  const token = tokens[0] as string;
  log(`${alg} Verity cached…`);
  const cached = await measure(async () => {
    const verified = await cachedVerifier.verify(token, inline, { audience: AUDIENCE });
    if (verified.subject !== 'user-0') throw new Error('unexpected subject');
  }, TIMING.cached);
  const cachedStats = cachedVerifier.stats();
  if (cachedStats.verified !== 1 || cachedStats.cache.misses !== 1) throw new Error(`${alg} cached: ${cachedStats.verified} verifications, ${cachedStats.cache.misses} misses`);
  summaries.push(summarize(`${alg} Verity cached`, cached.samples, cached.wallNs));

  return withRatios(summaries, summaries[0]?.p50Us ?? Number.NaN);
}

/** Results of the token section: one row per scenario, ratios against the same algorithm's `crypto.verify` p50. */
export interface TokenBenchResults {
  baseline: string;
  pool: number;
  firstSeenCacheSize: number;
  jwksRequests: number;
  seconds: number;
  results: Row[];
}

export async function runTokenBench(log: (line: string) => void): Promise<TokenBenchResults> {
  const started = Date.now();
  log(`tokens: generating keys and ${POOL} signed tokens per algorithm…`);
  const prepared: Prepared[] = [];
  for (const alg of ALGORITHMS) prepared.push(await prepare(alg));
  const jwks = await serveJwks(prepared.map((p) => p.jwk));
  try {
    const results: Row[] = [];
    for (const p of prepared) results.push(...(await benchAlgorithm(p, jwks.url, log)));
    return {
      baseline: 'crypto.verify p50 of the same algorithm',
      pool: POOL,
      firstSeenCacheSize: FIRST_SEEN_CACHE,
      jwksRequests: jwks.requests(),
      seconds: (Date.now() - started) / 1000,
      results,
    };
  } finally {
    await jwks.close();
  }
}

export function formatTokenSection(tokens: TokenBenchResults): string {
  return [
    `token verification, ES256 (P-256) and RS256 (2048-bit), ${tokens.pool} distinct tokens per algorithm; ratio = p50 / crypto.verify p50 of the same algorithm`,
    '',
    formatTable(tokens.results),
    '',
    `JWKS requests served: ${tokens.jwksRequests}; token section took ${tokens.seconds.toFixed(1)} s`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  runTokenBench(log)
    .then((tokens) => {
      if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ command: 'node --import @verity/cli/loader bench/tokens.ts', tokens }, null, 2)}\n`);
      else process.stdout.write(`\n${formatTokenSection(tokens)}\n`);
    })
    .catch((error: unknown) => {
      process.stderr.write(`token bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}

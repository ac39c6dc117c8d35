/**
 * The one canonical form of a request path, for every enforcement point (SDK adapters and the
 * gateway route matcher): a decision must be about the resource the framework or upstream
 * will route to, so a path is normalised where routers agree and refused where they do not.
 */

/** Longest request URI accepted, in characters. */
export const MAX_REQUEST_URI_LENGTH = 8192;

export interface CanonicalPathOptions {
  /**
   * Whether the router behind matches paths case-sensitively (default true). When false, the
   * canonical path is lowercased (Express's default routing), so `/ADMIN` is decided as `/admin`.
   */
  caseSensitive?: boolean;
}

/**
 * A request path in canonical form, or the reason it is refused:
 * `malformed` (not a path, bad percent-encoding, raw whitespace, `\`, `#` or non-ASCII), or
 * `ambiguous` (routers resolve it differently: a dot segment, an empty segment, a `;` path
 * parameter, or an encoded `/`, `\`, `%`, `;` or control character).
 */
export type CanonicalPath =
  | {
      ok: true;
      /** Decoded segments joined by `/`, no trailing slash (but `/`), lowercased when case-insensitive. */
      path: string;
      /** The path as sent (query removed): what the upstream receives. */
      rawPath: string;
      /** The decoded segments of `path` (`[]` for `/`). */
      segments: string[];
    }
  | { ok: false; reason: 'malformed' | 'ambiguous' };

// Printable ASCII other than space, `\` and `#`: anything else in a raw path is malformed.
const RAW_PATH = /^\/[!-"$-[\]-~]*$/;
// Decoded, these would read as a separator (`/`, `\`), a second decoding (`%`), a path
// parameter (`;`, servlet containers strip it), or a control character, on some upstream.
const AMBIGUOUS_DECODED = /[\u0000-\u001f\u007f/\\%;]/;

function decode(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * The canonical form of the path of a request URI (anything from `?` on is dropped). Each
 * segment is percent-decoded once; one trailing `/` is dropped (`/admin/` is `/admin`, as
 * Express and most routers route it); `;` path parameters, `.`/`..` segments and `//` are
 * refused rather than resolved, because servlet containers, proxies and Node routers resolve
 * them differently (RFC 3986 §3.3, §5.2.4).
 *
 * @example
 * ```ts
 * canonicalPath('/Todos/%41/?x=1', { caseSensitive: false }); // {ok: true, path: '/todos/a', rawPath: '/Todos/%41/', segments: ['todos', 'a']}
 * canonicalPath('/todos/secret;x'); // {ok: false, reason: 'ambiguous'}
 * ```
 */
export function canonicalPath(uri: string, options: CanonicalPathOptions = {}): CanonicalPath {
  if (uri.length > MAX_REQUEST_URI_LENGTH) return { ok: false, reason: 'malformed' };
  const rawPath = uri.split('?', 1)[0] as string;
  if (!RAW_PATH.test(rawPath)) return { ok: false, reason: 'malformed' };
  if (rawPath === '/') return { ok: true, path: '/', rawPath, segments: [] };
  const raws = rawPath.slice(1).split('/');
  if (raws.length > 1 && raws.at(-1) === '') raws.pop();
  const segments: string[] = [];
  for (const raw of raws) {
    if (raw === '' || raw.includes(';')) return { ok: false, reason: 'ambiguous' };
    const decoded = decode(raw);
    if (decoded === null) return { ok: false, reason: 'malformed' };
    if (decoded === '.' || decoded === '..' || AMBIGUOUS_DECODED.test(decoded)) return { ok: false, reason: 'ambiguous' };
    segments.push(options.caseSensitive === false ? decoded.toLowerCase() : decoded);
  }
  return { ok: true, path: `/${segments.join('/')}`, rawPath, segments };
}
